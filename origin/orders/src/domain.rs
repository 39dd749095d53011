//! Orders, sub-orders and their state machine; totals in integer cents.

use chrono::{DateTime, Utc};
use meridian_common::{Money, ProductId, SellerId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use meridian_common::OrderId;

meridian_common::typed_id!(
    /// A seller's part of an order.
    SubOrderId,
    "sub-order id"
);

/// `pending_payment → paid → shipped → delivered`; `cancelled` before
/// shipping; `refunded` once every line is refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    PendingPayment,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl Status {
    /// The legal transitions; everything else is a 409.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (PendingPayment, Paid)
                | (PendingPayment, Cancelled)
                | (Paid, Shipped)
                | (Paid, Cancelled)
                | (Paid, Refunded)
                | (Shipped, Delivered)
                | (Shipped, Refunded)
                | (Delivered, Refunded)
        )
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Cancelled | Status::Refunded)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Address {
    #[schema(schema_with = meridian_common::openapi::text::<1, 100>)]
    pub name: String,
    #[schema(schema_with = meridian_common::openapi::text::<1, 200>)]
    pub line1: String,
    #[serde(default)]
    #[schema(schema_with = meridian_common::openapi::text::<0, 200>)]
    pub line2: String,
    #[schema(schema_with = meridian_common::openapi::text::<1, 100>)]
    pub city: String,
    /// Two-letter US state code.
    #[schema(pattern = "^[A-Z]{2}$")]
    pub state: String,
    /// `12345` or `12345-6789`.
    #[schema(pattern = "^[0-9]{5}(-[0-9]{4})?$")]
    pub postal_code: String,
    /// Only US addresses are served.
    #[schema(pattern = "^US$")]
    pub country: String,
}

impl Address {
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        let mut field = |name: &'static str, value: &str, min: usize, max: usize| {
            if let Err(e) = meridian_common::error::text(value, min, max) {
                errors.push((name, e));
            }
        };
        field("shipping_address.name", &self.name, 1, 100);
        field("shipping_address.line1", &self.line1, 1, 200);
        field("shipping_address.line2", &self.line2, 0, 200);
        field("shipping_address.city", &self.city, 1, 100);
        if !(self.state.len() == 2 && self.state.bytes().all(|b| b.is_ascii_uppercase())) {
            errors.push((
                "shipping_address.state",
                "must be a two-letter state code like OR".into(),
            ));
        }
        let zip = self.postal_code.as_bytes();
        let zip_ok = (zip.len() == 5 && zip.iter().all(u8::is_ascii_digit))
            || (zip.len() == 10
                && zip[5] == b'-'
                && zip
                    .iter()
                    .enumerate()
                    .all(|(i, b)| i == 5 || b.is_ascii_digit()));
        if !zip_ok {
            errors.push((
                "shipping_address.postal_code",
                "must be a US ZIP code like 97201".into(),
            ));
        }
        if self.country != "US" {
            errors.push((
                "shipping_address.country",
                "only US addresses are served".into(),
            ));
        }
        errors
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Line {
    pub product_id: ProductId,
    pub title: String,
    pub unit_price: Money,
    pub quantity: u32,
    pub refunded_quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubOrder {
    pub id: Uuid,
    pub seller_id: SellerId,
    pub seller_name: String,
    pub lines: Vec<Line>,
    pub items: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
    pub refunded: Money,
    pub status: Status,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// Idempotency keys of refunds already applied (a replay is a no-op).
    #[serde(default, skip_serializing)]
    pub refund_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Order {
    pub id: OrderId,
    pub buyer_id: UserId,
    pub status: Status,
    pub sub_orders: Vec<SubOrder>,
    pub items: Money,
    pub shipping: Money,
    pub tax: Money,
    pub total: Money,
    pub refunded: Money,
    pub payment_id: Option<Uuid>,
    pub shipping_address: Address,
    /// Why a checkout failed (order `cancelled` before payment).
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Pricing rules from config.
#[derive(Debug, Clone, Copy)]
pub struct Pricing {
    pub tax_rate_bp: u32,
    pub shipping_per_seller: i64,
    pub free_shipping_over: i64,
}

/// `amount × bp / 10000`, rounded half up, in integers.
pub fn tax_of(amount: i64, bp: u32) -> i64 {
    (amount * i64::from(bp) + 5_000) / 10_000
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("{0}")]
    IllegalTransition(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no such sub-order")]
    NoSubOrder,
}

impl SubOrder {
    /// A seller's share of a checkout, priced.
    pub fn priced(
        seller_id: SellerId,
        seller_name: String,
        lines: Vec<Line>,
        pricing: Pricing,
    ) -> Result<Self, String> {
        let currency = lines
            .first()
            .ok_or("a sub-order needs lines")?
            .unit_price
            .currency;
        let mut items = Money::zero(currency);
        for l in &lines {
            let line_total = l
                .unit_price
                .checked_mul(l.quantity)
                .map_err(|e| e.to_string())?;
            items = items.checked_add(line_total).map_err(|e| e.to_string())?;
        }
        let shipping = if items.amount >= pricing.free_shipping_over {
            0
        } else {
            pricing.shipping_per_seller
        };
        let tax = tax_of(items.amount, pricing.tax_rate_bp);
        let total = items.amount + shipping + tax;
        Ok(Self {
            id: Uuid::now_v7(),
            seller_id,
            seller_name,
            lines,
            items,
            shipping: Money::new(shipping, currency),
            tax: Money::new(tax, currency),
            total: Money::new(total, currency),
            refunded: Money::zero(currency),
            status: Status::PendingPayment,
            carrier: None,
            tracking_number: None,
            refund_keys: Vec::new(),
        })
    }

    pub fn transition(&mut self, next: Status) -> Result<(), OrderError> {
        if !self.status.can_become(next) {
            return Err(OrderError::IllegalTransition(format!(
                "a {:?} sub-order cannot become {:?}",
                self.status, next
            )));
        }
        self.status = next;
        Ok(())
    }

    /// Refunds `quantity` of a product's line: its price plus its tax.
    /// Returns the amount to refund. Every line fully refunded → `refunded`.
    pub fn refund_line(
        &mut self,
        product: ProductId,
        quantity: u32,
        tax_rate_bp: u32,
    ) -> Result<Money, OrderError> {
        if !matches!(
            self.status,
            Status::Paid | Status::Shipped | Status::Delivered
        ) {
            return Err(OrderError::IllegalTransition(format!(
                "a {:?} sub-order cannot be refunded",
                self.status
            )));
        }
        let line = self
            .lines
            .iter_mut()
            .find(|l| l.product_id == product)
            .ok_or_else(|| OrderError::Invalid("no such line in this sub-order".into()))?;
        if quantity == 0 || line.refunded_quantity + quantity > line.quantity {
            return Err(OrderError::Invalid(format!(
                "quantity must be between 1 and {}",
                line.quantity - line.refunded_quantity
            )));
        }
        line.refunded_quantity += quantity;
        let base = line.unit_price.amount * i64::from(quantity);
        let amount = Money::new(base + tax_of(base, tax_rate_bp), line.unit_price.currency);
        // Never refund more than was charged for the sub-order.
        let amount = Money::new(
            amount.amount.min(self.total.amount - self.refunded.amount),
            amount.currency,
        );
        self.refunded.amount += amount.amount;
        if self.lines.iter().all(|l| l.refunded_quantity == l.quantity) {
            self.transition(Status::Refunded)?;
        }
        Ok(amount)
    }
}

impl Order {
    /// The order's status, from its sub-orders: the least advanced of the
    /// live ones; cancelled/refunded only when every sub-order is.
    pub fn derive_status(&mut self) {
        let live: Vec<Status> = self
            .sub_orders
            .iter()
            .map(|s| s.status)
            .filter(|s| !s.is_final())
            .collect();
        self.status = if live.is_empty() {
            if self
                .sub_orders
                .iter()
                .all(|s| s.status == Status::Cancelled)
            {
                Status::Cancelled
            } else {
                Status::Refunded
            }
        } else if live.contains(&Status::PendingPayment) {
            Status::PendingPayment
        } else if live.contains(&Status::Paid) {
            Status::Paid
        } else if live.contains(&Status::Shipped) {
            Status::Shipped
        } else {
            Status::Delivered
        };
        self.refunded = Money::new(
            self.sub_orders.iter().map(|s| s.refunded.amount).sum(),
            self.total.currency,
        );
    }

    pub fn sub_order_mut(&mut self, id: Uuid) -> Result<&mut SubOrder, OrderError> {
        self.sub_orders
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(OrderError::NoSubOrder)
    }

    /// Sum of the sub-orders (used when building the order).
    pub fn totals(subs: &[SubOrder]) -> Result<(Money, Money, Money, Money), String> {
        let currency = subs
            .first()
            .ok_or("an order needs sub-orders")?
            .total
            .currency;
        let sum = |f: fn(&SubOrder) -> Money| -> Result<Money, String> {
            subs.iter().try_fold(Money::zero(currency), |acc, s| {
                acc.checked_add(f(s)).map_err(|e| e.to_string())
            })
        };
        Ok((
            sum(|s| s.items)?,
            sum(|s| s.shipping)?,
            sum(|s| s.tax)?,
            sum(|s| s.total)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_common::Currency;
    use proptest::prelude::*;

    const PRICING: Pricing = Pricing {
        tax_rate_bp: 825,
        shipping_per_seller: 599,
        free_shipping_over: 5_000,
    };

    fn line(price: i64, qty: u32) -> Line {
        Line {
            product_id: ProductId::new(),
            title: "x".into(),
            unit_price: Money::new(price, Currency::Usd),
            quantity: qty,
            refunded_quantity: 0,
        }
    }

    #[test]
    fn pricing_example() {
        let sub =
            SubOrder::priced(SellerId::new(), "s".into(), vec![line(1999, 2)], PRICING).unwrap();
        assert_eq!(sub.items.amount, 3998);
        assert_eq!(sub.shipping.amount, 599);
        assert_eq!(sub.tax.amount, 330); // 3998 × 8.25% = 329.835
        assert_eq!(sub.total.amount, 3998 + 599 + 330);
        let free =
            SubOrder::priced(SellerId::new(), "s".into(), vec![line(5000, 1)], PRICING).unwrap();
        assert_eq!(free.shipping.amount, 0);
    }

    #[test]
    fn illegal_transitions_are_refused() {
        let mut sub =
            SubOrder::priced(SellerId::new(), "s".into(), vec![line(100, 1)], PRICING).unwrap();
        assert!(
            sub.transition(Status::Shipped).is_err(),
            "cannot ship before paying"
        );
        sub.transition(Status::Paid).unwrap();
        sub.transition(Status::Shipped).unwrap();
        assert!(
            sub.transition(Status::Cancelled).is_err(),
            "cannot cancel after shipping"
        );
        sub.transition(Status::Delivered).unwrap();
        assert!(sub.transition(Status::Paid).is_err());
    }

    proptest! {
        /// Totals add up to the cent across sub-orders, whatever the lines.
        #[test]
        fn totals_add_up(groups in proptest::collection::vec(proptest::collection::vec((1i64..200_000, 1u32..99), 1..5), 1..6)) {
            let subs: Vec<SubOrder> = groups
                .into_iter()
                .map(|g| SubOrder::priced(SellerId::new(), "s".into(), g.into_iter().map(|(p, q)| line(p, q)).collect(), PRICING).unwrap())
                .collect();
            let (items, shipping, tax, total) = Order::totals(&subs).unwrap();
            prop_assert_eq!(items.amount + shipping.amount + tax.amount, total.amount);
            for s in &subs {
                let line_sum: i64 = s.lines.iter().map(|l| l.unit_price.amount * i64::from(l.quantity)).sum();
                prop_assert_eq!(s.items.amount, line_sum);
                prop_assert!(s.tax.amount >= 0 && s.shipping.amount >= 0);
            }
        }

        /// Random transition attempts never skip a state: shipped implies it
        /// was paid, delivered implies shipped, nothing leaves a final state.
        #[test]
        fn state_machine_never_skips(attempts in proptest::collection::vec(0usize..6, 0..30)) {
            use Status::*;
            let all = [PendingPayment, Paid, Shipped, Delivered, Cancelled, Refunded];
            let mut sub = SubOrder::priced(SellerId::new(), "s".into(), vec![line(100, 1)], PRICING).unwrap();
            let mut history = vec![PendingPayment];
            for a in attempts {
                let before = sub.status;
                if sub.transition(all[a]).is_ok() {
                    prop_assert!(before.can_become(all[a]));
                    history.push(all[a]);
                } else {
                    prop_assert_eq!(sub.status, before);
                }
            }
            for w in history.windows(2) {
                prop_assert!(!w[0].is_final(), "left a final state");
                if w[1] == Shipped { prop_assert_eq!(w[0], Paid); }
                if w[1] == Delivered { prop_assert_eq!(w[0], Shipped); }
                if w[1] == Paid { prop_assert_eq!(w[0], PendingPayment); }
            }
        }

        /// Partial refunds never exceed what was charged.
        #[test]
        fn refunds_bounded(qtys in proptest::collection::vec(0u32..5, 0..10)) {
            let mut sub = SubOrder::priced(SellerId::new(), "s".into(), vec![line(1999, 3), line(500, 2)], PRICING).unwrap();
            sub.transition(Status::Paid).unwrap();
            let ids: Vec<ProductId> = sub.lines.iter().map(|l| l.product_id).collect();
            for (i, q) in qtys.into_iter().enumerate() {
                let _ = sub.refund_line(ids[i % 2], q, PRICING.tax_rate_bp);
                prop_assert!(sub.refunded.amount <= sub.total.amount);
                prop_assert!(sub.lines.iter().all(|l| l.refunded_quantity <= l.quantity));
            }
        }
    }
}
