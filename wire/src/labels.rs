//! Bounded metrics labels both sides use: services and status classes.
//!
//! The edge labels requests by the route that took them, an origin by the
//! path it served. One table keeps the two label sets the same (an origin
//! once counted analytics under another label because its list had
//! drifted from the edge's).

/// Every service an origin hosts, in label order.
pub const SERVICES: [&str; 11] = [
    "storefront",
    "auth",
    "catalog",
    "cart",
    "orders",
    "payments",
    "reviews",
    "logistics",
    "sellers",
    "search",
    "analytics",
];

/// Label for a service name not in `SERVICES`.
pub const OTHER: &str = "other";
/// Label for requests no route matched (edge) or no service served.
pub const NONE: &str = "none";

/// `SERVICES`, then `other` and `none`: every label either side uses.
pub const LABELS: [&str; SERVICES.len() + 2] = {
    let mut labels = [NONE; SERVICES.len() + 2];
    let mut i = 0;
    while i < SERVICES.len() {
        labels[i] = SERVICES[i];
        i += 1;
    }
    labels[SERVICES.len()] = OTHER;
    labels
};

/// Index of `other` in `LABELS`.
pub const OTHER_INDEX: usize = SERVICES.len();
/// Index of `none` in `LABELS`.
pub const NONE_INDEX: usize = SERVICES.len() + 1;

/// The label index of a service name (`other` for an unknown one).
pub fn index(service: &str) -> usize {
    SERVICES
        .iter()
        .position(|s| *s == service)
        .unwrap_or(OTHER_INDEX)
}

/// The service an origin path belongs to: `/api/<service>/…` and
/// `/internal/<service>/…` name it; every other path is a page
/// (`storefront`).
pub fn of_path(path: &str) -> &'static str {
    let rest = path
        .strip_prefix("/api/")
        .or_else(|| path.strip_prefix("/internal/"));
    match rest {
        Some(rest) => {
            let name = rest.split('/').next().unwrap_or_default();
            LABELS[index(name)]
        }
        None => SERVICES[0],
    }
}

/// `status_class` labels, in order.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Index into `STATUS_CLASSES`: anything below 200 counts as `1xx`,
/// anything from 500 up as `5xx`.
pub fn status_class_index(status: u16) -> usize {
    usize::from((status / 100).clamp(1, 5)) - 1
}

pub fn status_class(status: u16) -> &'static str {
    STATUS_CLASSES[status_class_index(status)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_services_then_other_and_none() {
        assert_eq!(&LABELS[..SERVICES.len()], &SERVICES[..]);
        assert_eq!(LABELS[OTHER_INDEX], "other");
        assert_eq!(LABELS[NONE_INDEX], "none");
        assert_eq!(LABELS[index("analytics")], "analytics");
        assert_eq!(LABELS[index("nope")], "other");
    }

    #[test]
    fn status_classes_are_bounded() {
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(499), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(999), "5xx");
        assert_eq!(status_class(0), "1xx");
    }

    #[test]
    fn paths_name_their_service() {
        assert_eq!(of_path("/api/analytics/seller/summary"), "analytics");
        assert_eq!(of_path("/internal/auth/introspect"), "auth");
        assert_eq!(of_path("/api/openapi.json"), "other");
        assert_eq!(of_path("/api/unknown/x"), "other");
        assert_eq!(of_path("/product/abc"), "storefront");
        assert_eq!(of_path("/"), "storefront");
    }
}
