//! How values read on a page: money, dates, ratings, stock, and the parsing
//! of what people type into forms (prices in dollars and cents).

use chrono::{DateTime, NaiveDate, Utc};
use meridian_common::taxonomy::CATEGORIES;
use meridian_common::{Currency, Money};

/// `$1,234.50`, `CA$12.00`, `€3.10`, `£0.99` (minus sign first).
pub fn money(m: Money) -> String {
    cents(m.amount, m.currency)
}

pub fn cents(amount: i64, currency: Currency) -> String {
    let symbol = match currency {
        Currency::Usd => "$",
        Currency::Cad => "CA$",
        Currency::Eur => "€",
        Currency::Gbp => "£",
    };
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{symbol}{grouped}.{:02}", abs % 100)
}

/// 1250 → `12.50`: an amount as a price field holds it (what
/// `parse_price` reads back).
pub fn price_input(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `12.50` → 1250 minor units. Accepts `12`, `12.5`, `12.50`, `$12.50`,
/// `1,234.00`; rejects negatives, more than two decimals and nonsense.
pub fn parse_price(text: &str) -> Result<i64, String> {
    let t = text.trim().trim_start_matches('$').replace(',', "");
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t.as_str(), ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > 2 || whole.len() > 9 {
        return Err("enter a price like 12.50".to_owned());
    }
    let whole: i64 = whole.parse().map_err(|_| "enter a price like 12.50")?;
    let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    Ok(whole * 100 + frac)
}

/// `Mar 3, 2026`.
pub fn date(at: DateTime<Utc>) -> String {
    day(at.date_naive())
}

/// `Mar 3, 2026`.
pub fn day(d: NaiveDate) -> String {
    d.format("%b %-d, %Y").to_string()
}

/// `Mar 3, 2026, 14:05 UTC`.
pub fn date_time(at: DateTime<Utc>) -> String {
    at.format("%b %-d, %Y, %H:%M UTC").to_string()
}

/// `2026-03-03T14:05:00Z` for `<time datetime>`.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn category_name(slug: &str) -> &'static str {
    CATEGORIES
        .iter()
        .find(|(s, _)| *s == slug)
        .map_or("Other", |(_, name)| name)
}

/// Five star icons for an average in hundredths of a star: `star`,
/// `star-half` or `empty` each, rounded to the nearest half.
pub fn star_icons(average_centi: u32) -> [&'static str; 5] {
    let halves = (average_centi + 25) / 50;
    std::array::from_fn(|i| {
        let full_at = (i as u32 + 1) * 2;
        if halves >= full_at {
            "star"
        } else if halves + 1 == full_at {
            "star-half"
        } else {
            "empty"
        }
    })
}

/// `4.3`, for "4.3 out of 5".
pub fn average(average_centi: u32) -> String {
    format!("{:.1}", f64::from(average_centi) / 100.0)
}

/// What a shopper needs to know about stock: nothing when plenty.
pub fn stock_note(stock: u32) -> Option<(&'static str, String)> {
    match stock {
        0 => Some(("stock-out", "Sold out".to_owned())),
        1..=5 => Some(("stock-low", format!("Only {stock} left"))),
        _ => None,
    }
}

/// Status names as people say them.
pub fn status(code: &str) -> &'static str {
    match code {
        "pending_payment" => "Awaiting payment",
        "paid" => "Paid",
        "shipped" => "Shipped",
        "delivered" => "Delivered",
        "cancelled" => "Cancelled",
        "refunded" => "Refunded",
        "label_created" => "Label created",
        "in_transit" => "In transit",
        "out_for_delivery" => "Out for delivery",
        "exception" => "Delivery problem",
        _ => "Unknown",
    }
}

/// Pluralised counts: `1 review`, `3 reviews`.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(money(Money::new(123450, Currency::Usd)), "$1,234.50");
        assert_eq!(money(Money::new(5, Currency::Usd)), "$0.05");
        assert_eq!(money(Money::new(-1999, Currency::Eur)), "-€19.99");
        assert_eq!(money(Money::new(100000000, Currency::Gbp)), "£1,000,000.00");
        assert_eq!(money(Money::new(1200, Currency::Cad)), "CA$12.00");
    }

    #[test]
    fn prices_parse_from_what_people_type() {
        for (text, cents) in [
            ("12", 1200),
            ("12.5", 1250),
            ("12.50", 1250),
            (" $1,234.05 ", 123405),
            ("0.99", 99),
        ] {
            assert_eq!(parse_price(text), Ok(cents), "{text}");
        }
        for bad in [
            "",
            "-1",
            "1.234",
            "12,50.1.1",
            "abc",
            "1e3",
            ".5",
            "9999999999",
        ] {
            assert!(parse_price(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn printed_prices_parse_back(c in 0i64..100_000_000_000) {
            let text = money(Money::new(c, Currency::Usd));
            prop_assert_eq!(parse_price(&text), Ok(c));
            prop_assert_eq!(parse_price(&price_input(c)), Ok(c));
        }
    }

    #[test]
    fn stars_round_to_halves() {
        assert_eq!(star_icons(0), ["empty"; 5]);
        assert_eq!(star_icons(500), ["star"; 5]);
        assert_eq!(
            star_icons(430),
            ["star", "star", "star", "star", "star-half"]
        );
        assert_eq!(star_icons(410), ["star", "star", "star", "star", "empty"]);
        assert_eq!(average(425), "4.2");
    }

    #[test]
    fn stock_and_counts() {
        assert_eq!(stock_note(0).unwrap().1, "Sold out");
        assert_eq!(stock_note(3).unwrap().1, "Only 3 left");
        assert!(stock_note(50).is_none());
        assert_eq!(count(1, "review", "reviews"), "1 review");
        assert_eq!(count(2, "review", "reviews"), "2 reviews");
    }
}
