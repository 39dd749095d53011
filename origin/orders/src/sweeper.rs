//! Settles checkouts their client left. A checkout whose outcome was
//! unknown answers 503 and keeps its order pending, its stock reserved and
//! perhaps an authorization, for the client's retry to resume. A client
//! that never retries (the shopper closed the tab) would hold that stock
//! and money for ever; so would a process that died mid-checkout.
//!
//! The sweeper claims keys left without an answer for `idle` (their lease
//! run out) and settles each as its retry would find it: a paid order is
//! the answer the client lost; anything else is cancelled
//! (`checkout_expired`) with its authorization voided, a capture refunded
//! and its stock released. The key then keeps that answer, so a retry that
//! comes later is told, and a retry that comes meanwhile waits for it (the
//! sweeper holds the key's lease). Every step is idempotent by the order's
//! id: a sweep that fails halfway is finished by a later one.

use std::time::Duration;

use meridian_common::{ApiError, Money, UserId};
use prometheus::{IntCounterVec, Opts, Registry};

use crate::checkout::{earlier_failure, expired, fail, order_id_of, stored, EXPIRED};
use crate::domain::Status;
use crate::store::StoredResponse;
use crate::AppState;

/// Keys settled per claim; the rest wait for the next round.
const BATCH: usize = 100;

/// What the region file sets (`[orders]`), validated there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepSettings {
    /// How long a key stays without an answer before it is settled: time
    /// for a shopper to press again after a 503.
    pub idle: Duration,
    /// How often the origin looks.
    pub every: Duration,
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(600),
            every: Duration::from_secs(30),
        }
    }
}

/// How sweeps ended, per key: `paid` (the lost answer recorded),
/// `cancelled` (money and stock given back), `failed` (left for the next
/// round).
#[derive(Clone)]
pub struct Sweeper {
    settled: IntCounterVec,
}

/// One settled key's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Paid,
    Cancelled,
}

impl Settled {
    /// The counter's (bounded) label.
    fn label(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
        }
    }
}

impl Sweeper {
    pub fn new() -> Self {
        let settled = IntCounterVec::new(
            Opts::new(
                "meridian_orders_checkouts_swept_total",
                "Abandoned checkout keys the sweeper settled, by outcome",
            ),
            &["outcome"],
        )
        .expect("static metric definition");
        Self { settled }
    }

    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.settled.clone()))
    }

    /// Sweeps every `settings.every` for as long as the process runs.
    pub fn spawn(self, state: AppState, settings: SweepSettings) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(settings.every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(e) = self.sweep(&state, settings.idle).await {
                    tracing::warn!(error = %e.message, "checkout sweep failed; trying again next round");
                }
            }
        })
    }

    /// Settles up to one batch of abandoned keys; how many it claimed.
    pub async fn sweep(&self, state: &AppState, idle: Duration) -> Result<usize, ApiError> {
        let lease = state.admission.limits().lease;
        let keys = state.store.claim_stale(idle, lease, BATCH).await?;
        for (buyer, key) in &keys {
            let outcome = match settle(state, *buyer, key).await {
                Ok((settled, answer)) => {
                    state.store.finish(*buyer, key, &answer).await?;
                    tracing::info!(%buyer, outcome = settled.label(), "settled an abandoned checkout");
                    settled.label()
                }
                Err(e) => {
                    // The next round takes it again (its lease ends now).
                    tracing::warn!(%buyer, error = %e.message, "could not settle an abandoned checkout");
                    state.store.abandon(*buyer, key).await?;
                    "failed"
                }
            };
            self.settled.with_label_values(&[outcome]).inc();
        }
        Ok(keys.len())
    }
}

impl Default for Sweeper {
    fn default() -> Self {
        Self::new()
    }
}

/// Brings one abandoned key's checkout to an end; the answer its key keeps.
async fn settle(
    state: &AppState,
    buyer: UserId,
    key: &str,
) -> Result<(Settled, StoredResponse), ApiError> {
    let id = order_id_of(buyer, key);
    let Some(order) = state.store.get(id).await? else {
        // It stopped before placing anything: nothing to give back.
        return Ok((Settled::Cancelled, stored(&Err(expired()))));
    };
    let answer = match order.status {
        Status::PendingPayment => {
            fail(state, id, EXPIRED).await?;
            expired()
        }
        // Failed for good earlier; what it held may not all be back yet.
        Status::Cancelled => earlier_failure(&order),
        _ => return Ok((Settled::Paid, stored(&Ok(order)))),
    };
    give_back_payment(state, id.to_string()).await?;
    state
        .catalog
        .release(id.0, None, &[])
        .await
        .map_err(ApiError::from)?;
    Ok((Settled::Cancelled, stored(&Err(answer))))
}

/// Voids the order's authorization, or refunds what was captured of it.
/// The keys are the ones checkout uses, so a void it already made is
/// replayed, not repeated.
async fn give_back_payment(state: &AppState, order: String) -> Result<(), ApiError> {
    let Some(payment) = state
        .payments
        .authorized_under(&format!("{order}:authorize"), &[])
        .await?
    else {
        return Ok(());
    };
    match payment.status.as_str() {
        "authorized" => {
            state
                .payments
                .void(&format!("{order}:void"), payment.id, &[])
                .await?;
        }
        "captured" | "partially_refunded" => {
            let left = Money::new(payment.captured - payment.refunded, payment.amount.currency);
            state
                .payments
                .refund(&format!("{order}:expired"), payment.id, left, &[])
                .await?;
        }
        // Declined, voided or refunded: nothing is held.
        _ => {}
    }
    Ok(())
}
