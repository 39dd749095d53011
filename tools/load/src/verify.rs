//! After the run, the books are checked against the system, through its API:
//!
//! - *no lost order:* every order the system said it placed exists, is
//!   paid (or shipped, delivered) and names its payment;
//! - *one charge per order:* no two orders share a payment;
//! - *no oversold unit:* no product sold more than it had;
//! - *every unit accounted for:* a product's stock fell by exactly what the
//!   placed orders bought (a duplicated order, a leaked reservation or a
//!   lost release shows here), give or take the units of checkouts that
//!   never got a definite answer;
//! - *no order the shopper was not told of:* a shopper's paid orders are the
//!   ones it was answered with (plus at most its unresolved checkouts).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::api::Api;
use crate::world::{self, Shopper, World};

/// Most units one checkout of the run buys (two plenty, one scarce).
const MAX_UNITS_PER_CHECKOUT: u64 = 3;
/// The order list's largest page: shoppers with more orders are checked
/// by stock alone.
const LIST_LIMIT: usize = 100;
const PARALLEL: usize = 16;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Verdict {
    pub orders_checked: u64,
    pub lost_orders: u64,
    pub shared_payments: u64,
    pub oversold_units: u64,
    /// Units gone from stock that no placed order bought, beyond what the
    /// unresolved checkouts could have bought (negative: units back in
    /// stock that a placed order bought).
    pub unaccounted_units: i64,
    pub unexpected_orders: u64,
    pub unresolved_checkouts: u64,
    /// The first problems, in words.
    pub problems: Vec<String>,
    pub ok: bool,
}

const PAID_OR_LATER: [&str; 3] = ["paid", "shipped", "delivered"];

pub async fn verify(api: &Api, world: &World, shoppers: &[Shopper]) -> Verdict {
    let mut v = Verdict {
        unresolved_checkouts: shoppers.iter().map(|s| u64::from(s.unresolved)).sum(),
        ..Verdict::default()
    };
    let orders = fetch_orders(api, shoppers).await;
    let mut sold: HashMap<Uuid, u64> = HashMap::new();
    let mut payments = HashSet::new();
    for (id, order) in &orders {
        v.orders_checked += 1;
        let Some(order) = order else {
            v.lost_orders += 1;
            note(&mut v, format!("order {id} was placed but cannot be read"));
            continue;
        };
        let status = order["status"].as_str().unwrap_or_default();
        if !PAID_OR_LATER.contains(&status) || !order["failure"].is_null() {
            v.lost_orders += 1;
            note(&mut v, format!("order {id} was placed but is {status:?}"));
        }
        match order["payment_id"].as_str() {
            Some(p) if !payments.insert(p.to_owned()) => {
                v.shared_payments += 1;
                note(&mut v, format!("order {id} shares payment {p}"));
            }
            Some(_) => {}
            None => {
                v.lost_orders += 1;
                note(&mut v, format!("order {id} has no payment"));
            }
        }
        for (product, n) in world::quantities(order) {
            *sold.entry(product).or_default() += n;
        }
    }
    let slack = (v.unresolved_checkouts * MAX_UNITS_PER_CHECKOUT) as i64;
    let mut unaccounted = 0i64;
    for product in world.stocked() {
        let path = format!("/api/catalog/products/{}", product.id);
        let now = read(api, &path, None)
            .await
            .and_then(|p| p["stock"].as_u64());
        let Some(now) = now else {
            note(&mut v, format!("product {} cannot be read", product.id));
            v.lost_orders += 1;
            continue;
        };
        let bought = sold.get(&product.id).copied().unwrap_or(0);
        if bought > product.initial {
            v.oversold_units += bought - product.initial;
            note(
                &mut v,
                format!(
                    "product {} sold {bought} of {}",
                    product.id, product.initial
                ),
            );
        }
        let gone = product.initial as i64 - now as i64;
        unaccounted += gone - bought as i64;
    }
    if unaccounted < 0 || unaccounted > slack {
        v.unaccounted_units = if unaccounted < 0 {
            unaccounted
        } else {
            unaccounted - slack
        };
        note(&mut v, format!("stock moved by {unaccounted} units more than the placed orders bought (allowed: 0 to {slack})"));
    }
    v.unexpected_orders = unexpected(api, shoppers).await;
    if v.unexpected_orders > 0 {
        let n = v.unexpected_orders;
        note(&mut v, format!("{n} paid orders nobody was told of"));
    }
    v.ok = v.lost_orders == 0
        && v.shared_payments == 0
        && v.oversold_units == 0
        && v.unaccounted_units == 0
        && v.unexpected_orders == 0;
    v
}

fn note(v: &mut Verdict, problem: String) {
    if v.problems.len() < 20 {
        v.problems.push(problem);
    }
}

/// A 200's body, asked again (after Retry-After) while the system is busy
/// or does not answer: the books are read once the load is over, but the
/// edge's rate limits and the last in-flight work may still be there.
async fn read(api: &Api, path: &str, token: Option<&str>) -> Option<Value> {
    for _ in 0..6 {
        let mut call = api.get(path);
        if let Some(t) = token {
            call = call.bearer(t);
        }
        match call.expect(&[200]).await {
            Some(a) if a.status == 200 => return Some(a.into_json()),
            Some(a) if a.status == 429 || a.status >= 500 => {
                tokio::time::sleep(a.retry_after()).await
            }
            Some(_) => return None,
            None => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
    }
    None
}

/// Every placed order, read as its buyer; `None` where it cannot be.
async fn fetch_orders(api: &Api, shoppers: &[Shopper]) -> Vec<(Uuid, Option<Value>)> {
    let wanted: Vec<(Uuid, Arc<str>)> = shoppers
        .iter()
        .flat_map(|s| {
            let token: Arc<str> = s.token.as_str().into();
            s.placed.iter().map(move |id| (*id, token.clone()))
        })
        .collect();
    let mut out = Vec::with_capacity(wanted.len());
    let mut tasks = JoinSet::new();
    for (id, token) in wanted {
        if tasks.len() >= PARALLEL {
            out.push(tasks.join_next().await.expect("a task").expect("no panic"));
        }
        let api = api.clone();
        tasks.spawn(async move {
            (
                id,
                read(&api, &format!("/api/orders/{id}"), Some(&token)).await,
            )
        });
    }
    while let Some(done) = tasks.join_next().await {
        out.push(done.expect("no panic"));
    }
    out
}

/// Paid orders in shoppers' lists that they were never answered with,
/// beyond their unresolved checkouts (shoppers whose list is complete).
async fn unexpected(api: &Api, shoppers: &[Shopper]) -> u64 {
    let mut extra = 0;
    for s in shoppers.iter().filter(|s| s.placed.len() < LIST_LIMIT) {
        let Some(list) = read(
            api,
            &format!("/api/orders?limit={LIST_LIMIT}"),
            Some(&s.token),
        )
        .await
        else {
            continue;
        };
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= LIST_LIMIT {
            continue;
        }
        let told: HashSet<Uuid> = s.placed.iter().copied().collect();
        let untold = items
            .iter()
            .filter(|o| PAID_OR_LATER.contains(&o["status"].as_str().unwrap_or_default()))
            .filter_map(world::id_of)
            .filter(|id| !told.contains(id))
            .count() as u64;
        extra += untold.saturating_sub(u64::from(s.unresolved));
    }
    extra
}
