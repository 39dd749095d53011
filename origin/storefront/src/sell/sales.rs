//! Sales: the shop's figures from the analytics API over a range of days,
//! as SVG charts drawn here (sales per day, best sellers, the cart →
//! checkout → paid funnel) with the same numbers in tables.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};
use meridian_common::public_api::Actor;
use meridian_common::{Currency, ProductId};
use serde::Deserialize;

use super::{chrome, seller, tabs};
use crate::charts::{self, Chart, Datum};
use crate::error::PageError;
use crate::format;
use crate::layout::{self, Chrome};
use crate::pages::Query;
use crate::view::FormErrors;
use crate::AppState;

/// Days shown when no range is asked for.
const DEFAULT_DAYS: i64 = 30;
const TOP: u32 = 8;

#[derive(Debug, Default, Deserialize)]
pub struct Params {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Template)]
#[template(path = "sell/sales.html")]
struct SalesPage {
    chrome: Chrome,
    tabs: Vec<(&'static str, &'static str, bool)>,
    from: String,
    to: String,
    errors: FormErrors,
    kpis: Vec<(String, &'static str)>,
    per_day: Chart,
    top: Chart,
    funnel: Chart,
    /// (day, orders, gross, net) for the table beside the chart.
    days: Vec<(String, u64, String, String)>,
    /// (title, units, gross) of the best sellers.
    best: Vec<(String, u64, String)>,
}

fn usd(cents: i64) -> String {
    format::cents(cents, Currency::Usd)
}

/// The range asked for, or the last 30 days; problems beside the fields.
fn range(p: &Params, today: NaiveDate) -> (NaiveDate, NaiveDate, FormErrors) {
    let mut errors = FormErrors::default();
    let mut day = |name: &str, raw: &Option<String>| {
        let raw = raw.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
        match raw.parse::<NaiveDate>() {
            Ok(d) => Some(d),
            Err(_) => {
                errors.field(name, "Use a date like 2026-03-01.");
                None
            }
        }
    };
    let to = day("to", &p.to).unwrap_or(today);
    let from = day("from", &p.from).unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    if from > to {
        errors.field("from", "The first day is after the last.");
        return (to - Duration::days(DEFAULT_DAYS - 1), to, errors);
    }
    if (to - from).num_days() >= 366 {
        errors.field("from", "Show at most a year at a time.");
        return (to - Duration::days(365), to, errors);
    }
    (from, to, errors)
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Result<Response, PageError> {
    let s = seller(&state, &headers).await?;
    let (from, to, errors) = range(&params, Utc::now().date_naive());
    let (summary, top) = futures::join!(
        state.api.sales_summary(&s.actor, from, to),
        state.api.top_products(&s.actor, from, to, TOP)
    );
    let (summary, top) = (summary?, top?);
    let titles = titles(&state, &s.actor, top.iter().map(|p| p.product_id.as_str())).await;

    // Every day of the range, zero where nothing sold (USD shops).
    let mut per_day = Vec::new();
    let mut days = Vec::new();
    let mut d = from;
    while d <= to {
        let row = summary
            .sales
            .by_day
            .iter()
            .find(|r| r.day == Some(d) && r.currency == "USD");
        let (orders, gross, net) =
            row.map_or((0, 0, 0), |r| (r.orders, r.gross_cents, r.net_cents));
        per_day.push(Datum {
            label: d.format("%b %-d").to_string(),
            value: gross,
            text: usd(gross),
        });
        if orders > 0 || gross > 0 {
            days.push((format::day(d), orders, usd(gross), usd(net)));
        }
        d += Duration::days(1);
    }
    let totals = summary.sales.totals.iter().find(|r| r.currency == "USD");
    let (orders, gross, refunded, net) = totals.map_or((0, 0, 0, 0), |r| {
        (r.orders, r.gross_cents, r.refunded_cents, r.net_cents)
    });
    let kpis = vec![
        (orders.to_string(), "paid orders"),
        (usd(gross), "sales"),
        (usd(refunded), "refunded"),
        (usd(net), "net"),
    ];
    let best: Vec<(String, u64, String)> = top
        .iter()
        .zip(&titles)
        .map(|(p, t)| (t.clone(), p.units, usd(p.gross_cents)))
        .collect();
    let top_data: Vec<Datum> = top
        .iter()
        .zip(&titles)
        .map(|(p, t)| Datum {
            label: t.clone(),
            value: p.gross_cents,
            text: format!(
                "{} · {}",
                usd(p.gross_cents),
                format::count(p.units, "unit", "units")
            ),
        })
        .collect();
    let f = &summary.funnel;
    let pct = |part: u64, whole: u64| {
        (part * 100)
            .checked_div(whole)
            .map(|p| format!(" ({p}%)"))
            .unwrap_or_default()
    };
    let funnel_data = vec![
        Datum {
            label: "Carts".into(),
            value: f.carts as i64,
            text: f.carts.to_string(),
        },
        Datum {
            label: "Checkouts".into(),
            value: f.checkouts as i64,
            text: format!("{}{}", f.checkouts, pct(f.checkouts, f.carts)),
        },
        Datum {
            label: "Paid orders".into(),
            value: f.paid as i64,
            text: format!("{}{}", f.paid, pct(f.paid, f.checkouts)),
        },
    ];
    let span = format!("{} to {}", format::day(from), format::day(to));
    let page = SalesPage {
        chrome: chrome(&state, &s.actor, "Sales", None).await,
        tabs: tabs("/sell/sales"),
        from: from.to_string(),
        to: to.to_string(),
        errors,
        kpis,
        per_day: charts::columns(
            "per-day",
            "Sales per day",
            &format!("Sales of each day, {span}, in US dollars"),
            &per_day,
        ),
        top: charts::rows(
            "top",
            "Best sellers",
            &format!("Products by sales, {span}"),
            &top_data,
        ),
        funnel: charts::rows(
            "funnel",
            "From cart to paid order",
            &format!("Carts that took your products, checkouts and paid orders, {span}"),
            &funnel_data,
        ),
        days,
        best,
    };
    layout::personal(&page)
}

/// Product titles for ids (an id that no longer resolves is shown as is).
async fn titles<'a>(
    state: &AppState,
    actor: &Actor,
    ids: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let lookups = ids.map(|id| async move {
        match id.parse::<ProductId>() {
            Ok(pid) => match state.api.product(actor, pid).await {
                Ok(Some(p)) => p.title,
                _ => id.to_owned(),
            },
            Err(_) => id.to_owned(),
        }
    });
    futures::future::join_all(lookups).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn p(from: &str, to: &str) -> Params {
        Params {
            from: Some(from.into()),
            to: Some(to.into()),
        }
    }

    #[test]
    fn ranges_default_and_reject_nonsense() {
        let today: NaiveDate = "2026-03-31".parse().unwrap();
        let (f, t, e) = range(&Params::default(), today);
        assert_eq!(
            (f.to_string(), t.to_string()),
            ("2026-03-02".into(), "2026-03-31".into())
        );
        assert!(e.is_empty());
        let (f, t, e) = range(&p("2026-03-01", "2026-03-05"), today);
        assert_eq!((f.day(), t.day()), (1, 5));
        assert!(e.is_empty());
        let (_, _, e) = range(&p("March", "2026-03-05"), today);
        assert!(e.of("from").is_some());
        let (f, t, e) = range(&p("2026-03-09", "2026-03-05"), today);
        assert!(e.of("from").is_some() && f < t);
        let (_, _, e) = range(&p("2024-01-01", "2026-03-05"), today);
        assert!(e.of("from").is_some());
    }
}
