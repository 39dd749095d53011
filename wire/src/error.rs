//! The error body every 4xx/5xx carries, whoever made it:
//! `{"error":{"code":"…","message":"…"}}` (origins may add `fields`).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody<'a, F = ()> {
    pub error: ErrorDetail<'a, F>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorDetail<'a, F = ()> {
    /// Stable and machine-readable (`not_found`, `rate_limited`, …).
    pub code: &'a str,
    /// For people; never internals.
    pub message: &'a str,
    /// Per-field problems of a rejected request body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<F>,
}

impl<'a> ErrorBody<'a> {
    pub fn new(code: &'a str, message: &'a str) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message,
                fields: None,
            },
        }
    }
}

impl<F: Serialize> ErrorBody<'_, F> {
    /// The body as JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("strings and field lists always serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_one_shape() {
        let body = ErrorBody::new("not_found", "no \"such\" route").to_vec();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"error":{"code":"not_found","message":"no \"such\" route"}}"#
        );
        let with_fields = ErrorBody {
            error: ErrorDetail {
                code: "validation_failed",
                message: "m",
                fields: Some(vec![("email", "bad")]),
            },
        };
        let text = String::from_utf8(with_fields.to_vec()).unwrap();
        assert!(text.contains(r#""fields":[["email","bad"]]"#), "{text}");
    }
}
