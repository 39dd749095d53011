//! Payments and their state machine, as pure functions.
//!
//! `authorized → captured → (partially_)refunded`, `authorized → voided`,
//! and `declined` as a terminal record of a refused authorization. Every
//! movement of money is a ledger entry; refunds never exceed the capture.

use chrono::{DateTime, Utc};
use meridian_common::Money;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

meridian_common::typed_id!(
    /// A payment (one authorization and what follows it).
    PaymentId,
    "payment id"
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Authorized,
    Declined,
    Captured,
    PartiallyRefunded,
    Refunded,
    Voided,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: PaymentId,
    /// What the payment is for (an order id).
    pub reference: String,
    pub amount: Money,
    pub captured: i64,
    pub refunded: i64,
    pub status: PaymentStatus,
    /// Why an authorization was declined.
    pub decline_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Authorization,
    Capture,
    Void,
    Refund,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: Uuid,
    pub payment_id: PaymentId,
    pub kind: EntryKind,
    pub amount: Money,
    pub idempotency_key: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum PaymentError {
    #[error("payment declined: {0}")]
    Declined(String),
    #[error("the card processor timed out")]
    GatewayTimeout,
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    InvalidAmount(String),
}

/// The most one payment may move: $10,000,000.00.
pub const MAX_AMOUNT: i64 = 1_000_000_000;

pub fn check_amount(amount: &Money) -> Result<(), String> {
    if amount.amount <= 0 || amount.amount > MAX_AMOUNT {
        return Err(format!(
            "amount must be between 1 and {MAX_AMOUNT} minor units"
        ));
    }
    Ok(())
}

fn entry(p: &Payment, kind: EntryKind, amount: i64, key: &str, now: DateTime<Utc>) -> LedgerEntry {
    LedgerEntry {
        id: Uuid::now_v7(),
        payment_id: p.id,
        kind,
        amount: Money::new(amount, p.amount.currency),
        idempotency_key: key.to_owned(),
        at: now,
    }
}

impl Payment {
    pub fn authorized(reference: &str, amount: Money, now: DateTime<Utc>) -> Self {
        Self {
            id: PaymentId(Uuid::now_v7()),
            reference: reference.to_owned(),
            amount,
            captured: 0,
            refunded: 0,
            status: PaymentStatus::Authorized,
            decline_reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn authorization_entry(&self, key: &str) -> LedgerEntry {
        entry(
            self,
            EntryKind::Authorization,
            self.amount.amount,
            key,
            self.created_at,
        )
    }

    /// Captures up to the authorized amount, once.
    pub fn capture(
        &self,
        amount: Money,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Payment, LedgerEntry), PaymentError> {
        if self.status != PaymentStatus::Authorized {
            return Err(PaymentError::InvalidState(format!(
                "cannot capture a {:?} payment",
                self.status
            )));
        }
        if amount.currency != self.amount.currency
            || amount.amount <= 0
            || amount.amount > self.amount.amount
        {
            return Err(PaymentError::InvalidAmount("capture must be positive, in the authorized currency and at most the authorized amount".into()));
        }
        let mut next = self.clone();
        next.captured = amount.amount;
        next.status = PaymentStatus::Captured;
        next.updated_at = now;
        let e = entry(&next, EntryKind::Capture, amount.amount, key, now);
        Ok((next, e))
    }

    /// Releases an uncaptured authorization.
    pub fn void(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Payment, LedgerEntry), PaymentError> {
        if self.status != PaymentStatus::Authorized {
            return Err(PaymentError::InvalidState(format!(
                "cannot void a {:?} payment",
                self.status
            )));
        }
        let mut next = self.clone();
        next.status = PaymentStatus::Voided;
        next.updated_at = now;
        let e = entry(&next, EntryKind::Void, self.amount.amount, key, now);
        Ok((next, e))
    }

    /// Refunds part or all of what is captured and not yet refunded.
    pub fn refund(
        &self,
        amount: Money,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<(Payment, LedgerEntry), PaymentError> {
        if !matches!(
            self.status,
            PaymentStatus::Captured | PaymentStatus::PartiallyRefunded
        ) {
            return Err(PaymentError::InvalidState(format!(
                "cannot refund a {:?} payment",
                self.status
            )));
        }
        let refundable = self.captured - self.refunded;
        if amount.currency != self.amount.currency
            || amount.amount <= 0
            || amount.amount > refundable
        {
            return Err(PaymentError::InvalidAmount(format!(
                "refund must be positive, in the payment's currency and at most {refundable}"
            )));
        }
        let mut next = self.clone();
        next.refunded += amount.amount;
        next.status = if next.refunded == next.captured {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
        next.updated_at = now;
        let e = entry(&next, EntryKind::Refund, amount.amount, key, now);
        Ok((next, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_common::Currency;
    use proptest::prelude::*;

    fn usd(n: i64) -> Money {
        Money::new(n, Currency::Usd)
    }

    #[test]
    fn happy_path_and_illegal_transitions() {
        let now = Utc::now();
        let p = Payment::authorized("order-1", usd(5000), now);
        assert!(p.refund(usd(1), "k", now).is_err(), "nothing captured yet");
        assert!(p.capture(usd(5001), "k", now).is_err());
        assert!(p.capture(Money::new(100, Currency::Eur), "k", now).is_err());
        let (captured, e) = p.capture(usd(5000), "c", now).unwrap();
        assert_eq!(
            (captured.status, e.kind, e.amount.amount),
            (PaymentStatus::Captured, EntryKind::Capture, 5000)
        );
        assert!(captured.void("v", now).is_err());
        assert!(captured.capture(usd(1), "c2", now).is_err());
        let (partial, _) = captured.refund(usd(1500), "r1", now).unwrap();
        assert_eq!(partial.status, PaymentStatus::PartiallyRefunded);
        assert!(partial.refund(usd(3501), "r2", now).is_err());
        let (full, _) = partial.refund(usd(3500), "r2", now).unwrap();
        assert_eq!(full.status, PaymentStatus::Refunded);
        assert!(full.refund(usd(1), "r3", now).is_err());
        let (voided, _) = p.void("v", now).unwrap();
        assert_eq!(voided.status, PaymentStatus::Voided);
    }

    proptest! {
        /// Whatever sequence of refunds is attempted, the refunded total
        /// never exceeds the capture and the status matches the totals.
        #[test]
        fn refunds_never_exceed_capture(capture in 1i64..100_000, attempts in proptest::collection::vec(-10i64..60_000, 0..20)) {
            let now = Utc::now();
            let (mut p, _) = Payment::authorized("o", usd(capture), now).capture(usd(capture), "c", now).unwrap();
            for (i, a) in attempts.into_iter().enumerate() {
                if let Ok((next, e)) = p.refund(usd(a), &format!("r{i}"), now) {
                    prop_assert_eq!(e.amount.amount, a);
                    p = next;
                }
                prop_assert!(p.refunded <= p.captured);
                prop_assert_eq!(p.status == PaymentStatus::Refunded, p.refunded == p.captured);
            }
        }
    }
}
