//! Surrogate keys: the tags public responses carry (`Surrogate-Key`) so
//! the edge can purge exactly what an event changed. Responses and the
//! change feed both name tags through this module, so they cannot drift.

use std::collections::{HashMap, VecDeque};

use crate::events::EventEnvelope;

pub const HEADER: http::HeaderName =
    http::HeaderName::from_static(meridian_wire::headers::SURROGATE_KEY);
/// Every listing of products (catalog pages, categories with counts).
pub const PRODUCT_LISTS: &str = "catalog:lists";
/// Search results (they embed product data).
pub const SEARCH: &str = "search";
/// Every storefront page (a purge of this tag refreshes the whole site).
pub const PAGES: &str = "pages";

pub fn product(id: impl std::fmt::Display) -> String {
    format!("product:{id}")
}

pub fn shop(id: impl std::fmt::Display) -> String {
    format!("shop:{id}")
}

/// Maps events to the tags they invalidate. Remembers which products a
/// stock reservation held, so a release that names none still purges
/// exactly those products.
#[derive(Default)]
pub struct TagMapper {
    reservations: HashMap<String, Vec<String>>,
    order: VecDeque<String>,
}

/// Reservations remembered for releases without a product list.
const RESERVATIONS: usize = 50_000;

impl TagMapper {
    pub fn tags(&mut self, event: &EventEnvelope) -> Vec<String> {
        let p = &event.payload;
        let str_of = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let listed = |products: Vec<String>| {
            let mut tags: Vec<String> = products.iter().map(product).collect();
            tags.push(PRODUCT_LISTS.to_owned());
            tags.push(SEARCH.to_owned());
            tags
        };
        match event.event_type.as_str() {
            t if t.starts_with("catalog.product.") => listed(vec![event.aggregate_id.clone()]),
            "catalog.stock.reserved" => {
                let products: Vec<String> = p["lines"]
                    .as_array()
                    .map(|lines| {
                        lines
                            .iter()
                            .filter_map(|l| str_of(&l["product_id"]))
                            .collect()
                    })
                    .unwrap_or_default();
                self.remember(&event.aggregate_id, products.clone());
                listed(products)
            }
            "catalog.stock.released" => {
                let named: Option<Vec<String>> = p["products"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(str_of).collect());
                let products = named
                    .or_else(|| self.reservations.get(&event.aggregate_id).cloned())
                    .unwrap_or_default();
                listed(products)
            }
            t if t.starts_with("sellers.shop.") => vec![shop(&event.aggregate_id)],
            // The product page shows the rating summary.
            t if t.starts_with("reviews.review.") => str_of(&p["product_id"])
                .map(|id| vec![product(id)])
                .unwrap_or_else(|| vec![product(&event.aggregate_id)]),
            _ => Vec::new(),
        }
    }

    fn remember(&mut self, reservation: &str, products: Vec<String>) {
        if self
            .reservations
            .insert(reservation.to_owned(), products)
            .is_none()
        {
            self.order.push_back(reservation.to_owned());
            if self.order.len() > RESERVATIONS {
                if let Some(old) = self.order.pop_front() {
                    self.reservations.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, aggregate: &str, payload: serde_json::Value) -> EventEnvelope {
        EventEnvelope::new("chicago", kind, 1, aggregate, payload)
    }

    #[test]
    fn product_changes_purge_the_product_lists_and_search() {
        let mut m = TagMapper::default();
        assert_eq!(
            m.tags(&event("catalog.product.updated", "p1", json!({}))),
            ["product:p1", PRODUCT_LISTS, SEARCH]
        );
        assert_eq!(
            m.tags(&event("sellers.shop.updated", "s1", json!({}))),
            ["shop:s1"]
        );
        assert_eq!(
            m.tags(&event(
                "reviews.review.submitted",
                "r",
                json!({"product_id": "p2"})
            )),
            ["product:p2"]
        );
        assert!(m
            .tags(&event("orders.order.placed", "o", json!({})))
            .is_empty());
    }

    #[test]
    fn a_release_without_products_purges_what_the_reservation_held() {
        let mut m = TagMapper::default();
        let lines = json!({"lines": [{"product_id": "a", "quantity": 1}, {"product_id": "b", "quantity": 2}]});
        m.tags(&event("catalog.stock.reserved", "r1", lines));
        assert_eq!(
            m.tags(&event(
                "catalog.stock.released",
                "r1",
                json!({"products": null})
            )),
            ["product:a", "product:b", PRODUCT_LISTS, SEARCH]
        );
        assert_eq!(
            m.tags(&event(
                "catalog.stock.released",
                "r1",
                json!({"products": ["b"]})
            )),
            ["product:b", PRODUCT_LISTS, SEARCH]
        );
    }
}
