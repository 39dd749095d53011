//! What analytics makes of an event: each envelope is decoded and checked
//! once (by the Kafka loader or the in-process feed) into a [`Fact`] — the
//! event plus the typed measures the rollups add up — or parked as a
//! [`DeadLetter`] with the reason. Also the validated query types.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use meridian_common::events::EventEnvelope;
use serde::{Deserialize, Serialize};

/// The payload version of every event type this build understands. A newer
/// version is parked, not guessed at: a producer ahead of the loader must
/// not skew the numbers.
pub const KNOWN_VERSION: u16 = 1;

/// Funnel stages, in order.
pub const STAGES: [&str; 3] = ["cart", "checkout", "paid"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubSale {
    pub seller: String,
    pub cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSale {
    pub seller: String,
    pub product: String,
    pub units: u32,
    pub cents: i64,
}

/// What one event adds to the rollups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// Kept raw only.
    None,
    /// An item went into a cart (funnel stage `cart`, entity = cart id),
    /// of this seller when the event names the product's seller.
    CartActivity { seller: Option<String> },
    /// A checkout placed an order (stage `checkout`) with sub-orders of
    /// these sellers.
    OrderPlaced { sellers: Vec<String> },
    /// An order was paid: stage `paid` and the sales rollups. `subs` are the
    /// sub-order totals per seller (items, shipping and tax); `lines` the
    /// item values per product.
    OrderPaid {
        currency: String,
        subs: Vec<SubSale>,
        lines: Vec<LineSale>,
    },
    /// Money returned to a buyer by a seller's cancel or refund.
    Refund {
        seller: String,
        currency: String,
        cents: i64,
    },
    /// A review was submitted; `previous` is the rating it replaced.
    Rating {
        seller: String,
        product: String,
        rating: u8,
        previous: Option<u8>,
    },
    /// A shipment was delivered `seconds` after it shipped.
    Delivery {
        seller: String,
        carrier: String,
        seconds: i64,
    },
}

impl Measure {
    /// The funnel stage and entity this event counts for, if any.
    pub fn stage(&self) -> Option<&'static str> {
        match self {
            Measure::CartActivity { .. } => Some("cart"),
            Measure::OrderPlaced { .. } => Some("checkout"),
            Measure::OrderPaid { .. } => Some("paid"),
            _ => None,
        }
    }

    /// The sellers in whose own funnel this event counts: the product's
    /// seller for a cart, every seller of a placed or paid order.
    pub fn funnel_sellers(&self) -> Vec<&str> {
        match self {
            Measure::CartActivity { seller } => seller.iter().map(String::as_str).collect(),
            Measure::OrderPlaced { sellers } => sellers.iter().map(String::as_str).collect(),
            Measure::OrderPaid { subs, .. } => subs.iter().map(|s| s.seller.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub event: EventEnvelope,
    pub measure: Measure,
}

impl Fact {
    pub fn day(&self) -> NaiveDate {
        self.event.occurred_at.date_naive()
    }
}

/// An event the loader could not use, kept with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// Where it came from: `topic/partition/offset`, or `bus/<event id>`.
    pub source: String,
    pub key: Option<String>,
    /// The message as received (lossy UTF-8, capped).
    pub raw: String,
    pub reason: String,
    pub received_at: DateTime<Utc>,
}

/// Largest part of a bad message kept in a dead letter.
const RAW_CAP: usize = 64 * 1024;

impl DeadLetter {
    /// Parks `raw` (capped at `RAW_CAP`, lossy UTF-8) with the reason.
    pub fn new(source: &str, key: Option<&[u8]>, raw: &[u8], reason: String) -> Self {
        let mut text = String::from_utf8_lossy(&raw[..raw.len().min(RAW_CAP)]).into_owned();
        if raw.len() > RAW_CAP {
            text.push('…');
        }
        Self {
            source: source.to_owned(),
            key: key.map(|k| String::from_utf8_lossy(k).into_owned()),
            raw: text,
            reason,
            received_at: Utc::now(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Fact(Fact),
    Dead(DeadLetter),
}

/// Decodes one message of `topic` (`<prefix>.<service>.events`; `None` for
/// the in-process bus). Never fails: what cannot be used becomes a dead
/// letter naming the reason.
pub fn decode(source: &str, topic: Option<&str>, key: Option<&[u8]>, raw: &[u8]) -> Record {
    let dead = |reason: String| Record::Dead(DeadLetter::new(source, key, raw, reason));
    let event: EventEnvelope = match serde_json::from_slice(raw) {
        Ok(event) => event,
        Err(e) => return dead(format!("malformed envelope: {e}")),
    };
    if let Some(topic) = topic {
        let service = topic.rsplit('.').nth(1).unwrap_or("");
        if event.service() != service {
            return dead(format!(
                "event type {:?} does not belong on topic {topic}",
                event.event_type
            ));
        }
    }
    match measure(&event) {
        Ok(measure) => Record::Fact(Fact { event, measure }),
        Err(reason) => dead(reason),
    }
}

/// An envelope already parsed (the in-process bus) goes through the same
/// checks as a Kafka message; only a rejected one is serialised again, to
/// be parked.
pub fn from_envelope(source: &str, event: EventEnvelope) -> Record {
    match measure(&event) {
        Ok(measure) => Record::Fact(Fact { event, measure }),
        Err(reason) => {
            let raw = serde_json::to_vec(&event).unwrap_or_default();
            Record::Dead(DeadLetter::new(source, None, &raw, reason))
        }
    }
}

/// The payload of `event` as `T`, borrowed (no copy of the JSON).
fn payload<T: serde::de::DeserializeOwned>(event: &EventEnvelope) -> Result<T, String> {
    T::deserialize(&event.payload).map_err(|e| format!("invalid {} payload: {e}", event.event_type))
}

/// Checks an envelope's version and payload and extracts its measures.
pub fn measure(event: &EventEnvelope) -> Result<Measure, String> {
    if event.version != KNOWN_VERSION {
        return Err(format!(
            "unknown version {} of {} (this loader reads version {KNOWN_VERSION})",
            event.version, event.event_type
        ));
    }
    Ok(match event.event_type.as_str() {
        "cart.item.added" => {
            let p: CartAdded = payload(event)?;
            Measure::CartActivity {
                seller: p.seller_id,
            }
        }
        "orders.order.placed" => {
            let p: Placed = payload(event)?;
            Measure::OrderPlaced {
                sellers: p.sub_orders.into_iter().map(|s| s.seller_id).collect(),
            }
        }
        "orders.order.paid" => paid(payload(event)?)?,
        "orders.sub_order.cancelled" | "orders.sub_order.refunded" => {
            let p: SubOrderChange = payload(event)?;
            let money = p.detail.refunded.or(p.detail.amount).ok_or_else(|| {
                format!("invalid {} payload: no refunded amount", event.event_type)
            })?;
            if money.amount < 0 {
                return Err(format!("negative refund in {}", event.event_type));
            }
            Measure::Refund {
                seller: p.seller_id,
                currency: money.currency,
                cents: money.amount,
            }
        }
        "reviews.review.submitted" => {
            let p: Review = payload(event)?;
            let stars = |r: u8| (1..=5).contains(&r);
            if !stars(p.rating) || p.old_rating.is_some_and(|r| !stars(r)) {
                return Err("rating outside 1..=5".into());
            }
            Measure::Rating {
                seller: p.seller_id,
                product: p.product_id,
                rating: p.rating,
                previous: p.old_rating,
            }
        }
        "logistics.shipment.tracked" => {
            let p: Tracking = payload(event)?;
            if p.status != "delivered" {
                Measure::None
            } else {
                let seconds = (p.at - p.shipped_at).num_seconds();
                if seconds < 0 {
                    return Err("delivered before it shipped".into());
                }
                Measure::Delivery {
                    seller: p.seller_id,
                    carrier: p.carrier,
                    seconds,
                }
            }
        }
        _ => Measure::None,
    })
}

fn paid(p: Paid) -> Result<Measure, String> {
    let currency = p.total.currency;
    let mut subs = Vec::new();
    let mut lines = Vec::new();
    for sub in p.sub_orders {
        if sub.total.currency != currency {
            return Err("sub-orders in more than one currency".into());
        }
        for line in sub.lines {
            if line.unit_price.amount < 0 {
                return Err("negative unit price".into());
            }
            lines.push(LineSale {
                seller: sub.seller_id.clone(),
                product: line.product_id,
                units: line.quantity,
                cents: line.unit_price.amount * i64::from(line.quantity),
            });
        }
        subs.push(SubSale {
            seller: sub.seller_id,
            cents: sub.total.amount,
        });
    }
    Ok(Measure::OrderPaid {
        currency,
        subs,
        lines,
    })
}

/// Events written before carts named the seller carry none.
#[derive(Deserialize)]
struct CartAdded {
    #[serde(default)]
    seller_id: Option<String>,
}

#[derive(Deserialize)]
struct Placed {
    #[serde(default)]
    sub_orders: Vec<SellerOf>,
}

#[derive(Deserialize)]
struct SellerOf {
    seller_id: String,
}

#[derive(Deserialize)]
struct Money {
    amount: i64,
    currency: String,
}

#[derive(Deserialize)]
struct Paid {
    total: Money,
    sub_orders: Vec<PaidSub>,
}

#[derive(Deserialize)]
struct PaidSub {
    seller_id: String,
    total: Money,
    lines: Vec<PaidLine>,
}

#[derive(Deserialize)]
struct PaidLine {
    product_id: String,
    quantity: u32,
    unit_price: Money,
}

#[derive(Deserialize)]
struct SubOrderChange {
    seller_id: String,
    detail: RefundDetail,
}

#[derive(Deserialize)]
struct RefundDetail {
    refunded: Option<Money>,
    amount: Option<Money>,
}

#[derive(Deserialize)]
struct Review {
    product_id: String,
    seller_id: String,
    rating: u8,
    old_rating: Option<u8>,
}

#[derive(Deserialize)]
struct Tracking {
    seller_id: String,
    carrier: String,
    status: String,
    shipped_at: DateTime<Utc>,
    at: DateTime<Utc>,
}

/// Longest span one query may cover.
pub const MAX_RANGE_DAYS: i64 = 366;
/// Default span when `from` is omitted.
const DEFAULT_RANGE_DAYS: i64 = 30;

/// An inclusive range of UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DayRange {
    /// `from`/`to` as `YYYY-MM-DD`; `to` defaults to today, `from` to 29
    /// days before `to`. Errors name the parameter.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Self, (&'static str, String)> {
        let day = |name: &'static str, text: &str| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| (name, format!("{text:?} is not a date (YYYY-MM-DD)")))
        };
        let to = match to {
            Some(text) => day("to", text)?,
            None => today,
        };
        let from = match from {
            Some(text) => day("from", text)?,
            None => to - Duration::days(DEFAULT_RANGE_DAYS - 1),
        };
        if from > to {
            return Err(("from", "must not be after `to`".into()));
        }
        if (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err((
                "to",
                format!("a range covers at most {MAX_RANGE_DAYS} days"),
            ));
        }
        Ok(Self { from, to })
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        (self.from..=self.to).contains(&day)
    }
}

/// Sales of one (day, region, currency) cell, for one seller or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesCell {
    pub day: NaiveDate,
    pub region: String,
    pub currency: String,
    /// Paid sub-orders.
    pub orders: u64,
    pub gross_cents: i64,
    pub refunded_cents: i64,
}

/// A product's sales over a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProductSales {
    pub product_id: String,
    pub seller_id: String,
    pub currency: String,
    pub units: u64,
    /// Item value (unit price × units), before shipping and tax.
    pub gross_cents: i64,
}

/// Distinct carts, checkouts and paid orders of one day (or of a range:
/// distinct over the whole range).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Funnel {
    pub carts: u64,
    pub checkouts: u64,
    pub paid: u64,
}

impl Funnel {
    pub fn set(&mut self, stage: &str, n: u64) {
        match stage {
            "cart" => self.carts = n,
            "checkout" => self.checkouts = n,
            "paid" => self.paid = n,
            _ => {}
        }
    }
}

/// Ratings given on one day (edits count as a change, not a new rating).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingCell {
    pub day: NaiveDate,
    pub ratings: i64,
    pub stars: i64,
}

/// Deliveries of one carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCell {
    pub carrier: String,
    pub deliveries: u64,
    pub seconds: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(kind: &str, version: u16, payload: serde_json::Value) -> Vec<u8> {
        let event = EventEnvelope::new("chicago", kind, version, "agg", payload);
        serde_json::to_vec(&event).unwrap()
    }

    fn paid_payload() -> serde_json::Value {
        let usd = |amount: i64| json!({ "amount": amount, "currency": "USD" });
        json!({
            "order_id": "o", "buyer_id": "b", "status": "paid", "total": usd(3000), "failure": null,
            "sub_orders": [
                { "sub_order_id": "s1", "seller_id": "A", "total": usd(1000),
                  "lines": [{ "product_id": "p1", "quantity": 2, "unit_price": usd(400) }] },
                { "sub_order_id": "s2", "seller_id": "B", "total": usd(2000),
                  "lines": [{ "product_id": "p2", "quantity": 1, "unit_price": usd(1800) }] },
            ],
        })
    }

    #[test]
    fn a_paid_order_yields_seller_and_line_sales() {
        let raw = envelope("orders.order.paid", 1, paid_payload());
        let Record::Fact(fact) = decode("t/0/1", Some("meridian.orders.events"), None, &raw) else {
            panic!("expected a fact");
        };
        let Measure::OrderPaid {
            currency,
            subs,
            lines,
        } = &fact.measure
        else {
            panic!("expected a sale: {:?}", fact.measure);
        };
        assert_eq!(currency, "USD");
        assert_eq!(subs.iter().map(|s| s.cents).sum::<i64>(), 3000);
        assert_eq!(lines[0].cents, 800);
        assert_eq!(lines[0].seller, "A");
        assert_eq!(fact.measure.stage(), Some("paid"));
    }

    #[test]
    fn malformed_unknown_version_and_wrong_topic_become_dead_letters() {
        let reason = |record: Record| match record {
            Record::Dead(d) => d.reason,
            Record::Fact(f) => panic!("expected a dead letter, got {f:?}"),
        };
        let r = reason(decode("s", None, Some(b"k"), b"{not json"));
        assert!(r.starts_with("malformed envelope"), "{r}");
        let raw = envelope("orders.order.paid", 2, paid_payload());
        let r = reason(decode("s", None, None, &raw));
        assert!(r.contains("unknown version 2"), "{r}");
        let raw = envelope("orders.order.paid", 1, json!({ "total": 5 }));
        let r = reason(decode("s", None, None, &raw));
        assert!(r.starts_with("invalid orders.order.paid payload"), "{r}");
        let raw = envelope("orders.order.paid", 1, paid_payload());
        let r = reason(decode("s", Some("meridian.cart.events"), None, &raw));
        assert!(r.contains("does not belong"), "{r}");
        let raw = envelope(
            "reviews.review.submitted",
            1,
            json!({ "product_id": "p", "seller_id": "s", "user_id": "u", "rating": 9, "old_rating": null }),
        );
        assert!(reason(decode("s", None, None, &raw)).contains("1..=5"));
    }

    #[test]
    fn bus_envelopes_get_the_same_checks_and_park_reserialised() {
        let event = EventEnvelope::new("chicago", "orders.order.paid", 2, "agg", paid_payload());
        let Record::Dead(letter) = from_envelope("bus/1", event) else {
            panic!("a version-2 event is parked");
        };
        assert!(letter.reason.contains("unknown version 2"), "{letter:?}");
        assert!(letter.raw.contains("orders.order.paid"));
        let event = EventEnvelope::new("chicago", "orders.order.paid", 1, "agg", paid_payload());
        assert!(matches!(from_envelope("bus/2", event), Record::Fact(_)));
    }

    #[test]
    fn other_known_events_are_kept_raw() {
        let raw = envelope("sellers.key.created", 1, json!({ "anything": true }));
        let Record::Fact(fact) = decode("s", Some("meridian.sellers.events"), None, &raw) else {
            panic!("kept");
        };
        assert_eq!(fact.measure, Measure::None);
    }

    #[test]
    fn delivery_time_is_delivered_minus_shipped() {
        let raw = envelope(
            "logistics.shipment.tracked",
            1,
            json!({ "seller_id": "s", "carrier": "ups", "status": "delivered",
                    "shipped_at": "2026-11-20T10:00:00Z", "at": "2026-11-22T10:00:00Z" }),
        );
        let Record::Fact(fact) = decode("s", None, None, &raw) else {
            panic!("fact");
        };
        assert_eq!(
            fact.measure,
            Measure::Delivery {
                seller: "s".into(),
                carrier: "ups".into(),
                seconds: 2 * 86_400
            }
        );
    }

    #[test]
    fn ranges_default_validate_and_cap() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let r = DayRange::parse(None, None, today).unwrap();
        assert_eq!((r.to - r.from).num_days(), 29);
        assert_eq!(r.to, today);
        let r = DayRange::parse(Some("2026-01-01"), Some("2026-01-01"), today).unwrap();
        assert!(r.contains(r.from));
        assert_eq!(
            DayRange::parse(Some("2026-13-01"), None, today)
                .unwrap_err()
                .0,
            "from"
        );
        assert_eq!(
            DayRange::parse(Some("2026-02-01"), Some("2026-01-01"), today)
                .unwrap_err()
                .0,
            "from"
        );
        assert_eq!(
            DayRange::parse(Some("2024-01-01"), Some("2026-01-01"), today)
                .unwrap_err()
                .0,
            "to"
        );
    }
}
