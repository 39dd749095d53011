//! View models shared by several pages: product cards, ratings, form
//! field errors. Templates only read these; all formatting happens here.

use meridian_common::client::ClientError;
use meridian_common::clients::SearchDoc;
use meridian_common::public_api::Product;
use meridian_common::rating::RatingSummary;
use meridian_common::Money;

use crate::format;

/// A rating as stars and words.
#[derive(Debug, Clone)]
pub struct Rating {
    /// (sprite symbol, css class) of each of the five stars.
    pub icons: [(&'static str, &'static str); 5],
    /// `4.3 out of 5 stars, 12 reviews` (screen readers read this).
    pub label: String,
    pub count: u32,
}

impl Rating {
    pub fn new(average_centi: u32, count: u32) -> Self {
        let label = if count == 0 {
            "No reviews yet".to_owned()
        } else {
            format!(
                "{} out of 5 stars, {}",
                format::average(average_centi),
                format::count(u64::from(count), "review", "reviews")
            )
        };
        Self {
            icons: format::star_icons(average_centi).map(|icon| match icon {
                "star" => ("star", "on"),
                "star-half" => ("star-half", "half"),
                _ => ("star", "off"),
            }),
            label,
            count,
        }
    }

    pub fn of(summary: &RatingSummary) -> Self {
        Self::new(summary.average_centi(), summary.count)
    }
}

/// A product in a grid.
#[derive(Debug, Clone)]
pub struct Card {
    pub href: String,
    pub title: String,
    pub price: String,
    pub image: Option<String>,
    pub category: String,
    pub shop: String,
    pub rating: Rating,
    /// (css class, text) when stock is worth mentioning.
    pub stock: Option<(&'static str, String)>,
}

impl Card {
    pub fn of_product(p: &Product) -> Self {
        Self {
            href: format!("/p/{}", p.id),
            title: p.title.clone(),
            price: format::money(p.price),
            image: p.image_urls.first().cloned(),
            category: p.category.clone(),
            shop: p.seller_name.clone(),
            rating: Rating::of(&p.rating),
            stock: format::stock_note(p.stock),
        }
    }

    pub fn of_hit(d: &SearchDoc) -> Self {
        Self {
            href: format!("/p/{}", d.product_id),
            title: d.title.clone(),
            price: format::money(d.price),
            image: d.image_url.clone(),
            category: d.category.clone(),
            shop: d.seller_name.clone(),
            rating: Rating::new(d.rating_centi, d.rating_count),
            stock: (!d.in_stock).then(|| ("stock-out", "Sold out".to_owned())),
        }
    }
}

/// Items, shipping, tax and total as they read: a shop's part of a cart or
/// an order, or the whole of it.
#[derive(Debug, Clone)]
pub struct Totals {
    pub items: String,
    pub shipping: String,
    pub tax: String,
    pub total: String,
    /// Shown when some of it was refunded.
    pub refunded: Option<String>,
}

impl Totals {
    pub fn new(items: Money, shipping: Money, tax: Money, total: Money) -> Self {
        Self {
            items: format::money(items),
            shipping: format::money(shipping),
            tax: format::money(tax),
            total: format::money(total),
            refunded: None,
        }
    }

    pub fn with_refunded(mut self, refunded: Money) -> Self {
        self.refunded = (refunded.amount > 0).then(|| format::money(refunded));
        self
    }
}

/// Problems with what was typed into a form, by field name, plus one for
/// the form as a whole.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    pub fields: Vec<(String, String)>,
    pub form: Option<String>,
}

impl FormErrors {
    pub fn field(&mut self, name: &str, message: impl Into<String>) {
        self.fields.push((name.to_owned(), message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }

    /// The message for `name`, if it has one.
    pub fn of(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, m)| m.as_str())
    }

    /// `aria-invalid` for a field.
    pub fn invalid(&self, name: &str) -> &'static str {
        if self.of(name).is_some() {
            "true"
        } else {
            "false"
        }
    }

    /// A service's answer to a form: field problems go beside their
    /// fields (the API's field names, minus `prefix`), anything else at the
    /// top. `None` for errors a form cannot explain (unavailable services).
    pub fn from_api(e: &ClientError, prefix: &str) -> Option<Self> {
        let ClientError::Api {
            status,
            message,
            fields,
            ..
        } = e
        else {
            return None;
        };
        if !(400..500).contains(status) || *status == 401 {
            return None;
        }
        let mut out = Self::default();
        for (field, m) in fields {
            out.field(field.strip_prefix(prefix).unwrap_or(field), m.clone());
        }
        if out.fields.is_empty() {
            out.form = Some(message.clone());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_field_errors_land_beside_their_fields() {
        let e = ClientError::Api {
            status: 422,
            code: "validation_failed".into(),
            message: "2 fields are invalid".into(),
            fields: vec![
                ("shipping_address.state".into(), "two letters".into()),
                ("payment_token".into(), "unknown card".into()),
            ],
        };
        let f = FormErrors::from_api(&e, "shipping_address.").unwrap();
        assert_eq!(f.of("state"), Some("two letters"));
        assert_eq!(f.of("payment_token"), Some("unknown card"));
        assert_eq!(f.invalid("state"), "true");
        assert_eq!(f.invalid("city"), "false");
        assert!(f.form.is_none());
        let declined = ClientError::Api {
            status: 402,
            code: "payment_declined".into(),
            message: "card declined".into(),
            fields: vec![],
        };
        let f = FormErrors::from_api(&declined, "").unwrap();
        assert_eq!(f.form.as_deref(), Some("card declined"));
        assert!(
            FormErrors::from_api(&ClientError::Unavailable("orders", "x".into()), "").is_none()
        );
    }

    #[test]
    fn ratings_read_aloud() {
        assert_eq!(Rating::new(0, 0).label, "No reviews yet");
        assert_eq!(Rating::new(430, 12).label, "4.3 out of 5 stars, 12 reviews");
    }
}
