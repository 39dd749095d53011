//! Carts and their limits.

use chrono::{DateTime, Utc};
use meridian_common::{Money, ProductId, UserId};
use serde::{Deserialize, Serialize};

pub const MAX_QUANTITY: u32 = meridian_common::clients::MAX_LINE_QUANTITY;
pub const MAX_LINES: usize = 50;
pub const GUEST_COOKIE: &str = "meridian_cart";
/// Guest carts live 30 days after their last change.
pub const GUEST_TTL_SECS: i64 = 30 * 24 * 3600;

/// Whose cart: a signed-in user's, or a guest's (by the random id in the
/// `meridian_cart` cookie, a 128-bit secret).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CartKey {
    User(UserId),
    Guest(String),
}

impl CartKey {
    pub fn guest(raw: &str) -> Option<Self> {
        let ok = raw.len() == 22
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| CartKey::Guest(raw.to_owned()))
    }

    pub fn new_guest() -> Self {
        use base64::Engine;
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        CartKey::Guest(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Stable string form (store key, event aggregate id).
    pub fn id(&self) -> String {
        match self {
            CartKey::User(u) => format!("user:{u}"),
            CartKey::Guest(g) => format!("guest:{g}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: ProductId,
    pub quantity: u32,
    /// Unit price when added, to tell the shopper when it changed.
    pub price_at_add: Money,
    pub added_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub lines: Vec<CartLine>,
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("quantity must be between 1 and {MAX_QUANTITY}")]
    Quantity,
    /// The line already holds so many that the addition would pass the
    /// limit: a conflict with the cart as it is, not a bad quantity.
    #[error("the cart would hold more than {MAX_QUANTITY} of this product")]
    LineFull,
    #[error("a cart holds at most {MAX_LINES} different products")]
    TooManyLines,
    #[error("this product is not in your cart")]
    NotInCart,
}

impl Cart {
    /// Adds `quantity` to the line (creating it), capped by the limits.
    pub fn add(
        &mut self,
        product: ProductId,
        quantity: u32,
        price: Money,
        now: DateTime<Utc>,
    ) -> Result<(), CartError> {
        if quantity == 0 || quantity > MAX_QUANTITY {
            return Err(CartError::Quantity);
        }
        match self.lines.iter_mut().find(|l| l.product_id == product) {
            Some(line) => {
                let total = line.quantity + quantity;
                if total > MAX_QUANTITY {
                    return Err(CartError::LineFull);
                }
                line.quantity = total;
            }
            None => {
                if self.lines.len() >= MAX_LINES {
                    return Err(CartError::TooManyLines);
                }
                self.lines.push(CartLine {
                    product_id: product,
                    quantity,
                    price_at_add: price,
                    added_at: now,
                });
            }
        }
        self.updated_at = Some(now);
        Ok(())
    }

    /// Sets a line's quantity; 0 removes it. Returns whether the line existed.
    pub fn set(
        &mut self,
        product: ProductId,
        quantity: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, CartError> {
        if quantity > MAX_QUANTITY {
            return Err(CartError::Quantity);
        }
        let Some(pos) = self.lines.iter().position(|l| l.product_id == product) else {
            return Ok(false);
        };
        if quantity == 0 {
            self.lines.remove(pos);
        } else {
            self.lines[pos].quantity = quantity;
        }
        self.updated_at = Some(now);
        Ok(true)
    }

    /// Folds another cart (a guest's) into this one; quantities add up to the
    /// per-line cap and lines beyond the line limit are dropped.
    pub fn merge(&mut self, other: &Cart, now: DateTime<Utc>) {
        for line in &other.lines {
            if let Some(mine) = self
                .lines
                .iter_mut()
                .find(|l| l.product_id == line.product_id)
            {
                mine.quantity = (mine.quantity + line.quantity).min(MAX_QUANTITY);
            } else if self.lines.len() < MAX_LINES {
                self.lines.push(line.clone());
            }
        }
        self.updated_at = Some(now);
    }

    /// Subtracts what was bought; lines that reach zero go.
    pub fn checked_out(&mut self, bought: &[(ProductId, u32)], now: DateTime<Utc>) {
        for (product, qty) in bought {
            if let Some(line) = self.lines.iter_mut().find(|l| l.product_id == *product) {
                line.quantity = line.quantity.saturating_sub(*qty);
            }
        }
        self.lines.retain(|l| l.quantity > 0);
        self.updated_at = Some(now);
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
    fn limits_hold() {
        let now = Utc::now();
        let mut cart = Cart::default();
        let p = ProductId::new();
        assert_eq!(cart.add(p, 0, usd(1), now), Err(CartError::Quantity));
        cart.add(p, 60, usd(1), now).unwrap();
        assert_eq!(cart.add(p, 40, usd(1), now), Err(CartError::LineFull));
        assert_eq!(cart.lines[0].quantity, 60);
        for _ in 1..MAX_LINES {
            cart.add(ProductId::new(), 1, usd(1), now).unwrap();
        }
        assert_eq!(
            cart.add(ProductId::new(), 1, usd(1), now),
            Err(CartError::TooManyLines)
        );
        assert!(cart.set(p, 0, now).unwrap());
        assert!(!cart.set(p, 3, now).unwrap());
        assert_eq!(cart.lines.len(), MAX_LINES - 1);
    }

    proptest! {
        #[test]
        fn merge_respects_caps(a in proptest::collection::vec((0u8..60, 1u32..=99), 0..60), b in proptest::collection::vec((0u8..60, 1u32..=99), 0..60)) {
            let now = Utc::now();
            let ids: Vec<ProductId> = (0..60).map(|_| ProductId::new()).collect();
            let build = |lines: &[(u8, u32)]| {
                let mut c = Cart::default();
                for (i, q) in lines {
                    let _ = c.add(ids[*i as usize], *q, usd(1), now);
                }
                c
            };
            let mut user = build(&a);
            let guest = build(&b);
            user.merge(&guest, now);
            prop_assert!(user.lines.len() <= MAX_LINES);
            prop_assert!(user.lines.iter().all(|l| (1..=MAX_QUANTITY).contains(&l.quantity)));
            let unique: std::collections::HashSet<_> = user.lines.iter().map(|l| l.product_id).collect();
            prop_assert_eq!(unique.len(), user.lines.len());
        }
    }
}
