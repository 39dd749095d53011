//! Money as integer minor units with a currency. Never floats: a float cannot
//! represent most cent amounts exactly, and totals must add up to the cent.

use serde::{Deserialize, Serialize};

/// Currencies the marketplace settles in. All have two minor-unit digits.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Usd,
    Cad,
    Eur,
    Gbp,
}

impl Currency {
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Cad => "CAD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
        }
    }
}

impl std::str::FromStr for Currency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "USD" => Ok(Currency::Usd),
            "CAD" => Ok(Currency::Cad),
            "EUR" => Ok(Currency::Eur),
            "GBP" => Ok(Currency::Gbp),
            other => Err(format!("unsupported currency {other:?}")),
        }
    }
}

/// An amount in minor units (cents) with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    /// Minor units (cents). Signed so refunds and adjustments can be negative.
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency mismatch: {0:?} vs {1:?}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflow")]
    Overflow,
}

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.amount
            .checked_add(other.amount)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_mul(self, quantity: u32) -> Result<Money, MoneyError> {
        self.amount
            .checked_mul(i64::from(quantity))
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:02} {}",
            abs / 100,
            abs % 100,
            self.currency.code()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_same_currency_and_rejects_mixed() {
        let a = Money::new(1999, Currency::Usd);
        assert_eq!(a.checked_add(a).unwrap().amount, 3998);
        assert_eq!(
            a.checked_add(Money::new(1, Currency::Eur)),
            Err(MoneyError::CurrencyMismatch(Currency::Usd, Currency::Eur))
        );
        assert_eq!(
            Money::new(i64::MAX, Currency::Usd).checked_add(Money::new(1, Currency::Usd)),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn multiplies_and_formats() {
        let line = Money::new(1250, Currency::Usd).checked_mul(3).unwrap();
        assert_eq!(line.to_string(), "37.50 USD");
        assert_eq!(Money::new(-5, Currency::Gbp).to_string(), "-0.05 GBP");
        assert_eq!(
            serde_json::to_value(line).unwrap(),
            serde_json::json!({"amount": 3750, "currency": "USD"})
        );
    }
}
