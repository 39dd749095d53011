//! The one error type every handler returns.
//!
//! Store and domain errors are converted into `ApiError` at the edge of each
//! service, so the HTTP mapping (status + stable machine-readable code) lives
//! in one place and internals never leak into a response body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meridian_wire::error::{ErrorBody, ErrorDetail};
use serde::Serialize;

/// One invalid field of a request, reported back so a client can show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422 with one entry per invalid field.
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let message = match fields.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", fields.len()),
        };
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "validation_failed",
            message,
            fields,
        }
    }

    /// A backing store is down or timed out: the client may retry later.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// Our own fault. The detail is logged, never sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The wire contract's body, as the edge writes its own errors.
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                fields: (!self.fields.is_empty()).then_some(&self.fields),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// Collects field errors while parsing a request, so one response reports all
/// of them instead of making the client fix one field per round trip.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn check<T>(&mut self, field: &'static str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    /// Ok when no field failed; the `Option`s from `check` are then all `Some`.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// Free text with a length bound and no control characters (newlines ok).
pub fn text(raw: &str, min: usize, max: usize) -> Result<String, String> {
    let t = raw.trim();
    // The lower bound is on the trimmed text (blank is empty); the upper bound
    // is on the text as sent, which is what the schema's `maxLength` counts.
    if t.chars().count() < min {
        return Err(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if raw.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    // On the text as sent too: the schema's pattern refuses a control
    // character anywhere, a trailing tab included.
    if raw.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters".into());
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bounds() {
        assert_eq!(text("  hi ", 1, 5).unwrap(), "hi");
        assert!(text("", 1, 5).is_err());
        assert!(text("toolong", 1, 5).is_err());
        // Surrounding blanks are dropped but count against the bound.
        assert!(text(" abcde", 1, 5).is_err());
        assert!(text("abc\t", 1, 5).is_err());
        assert!(text("a\u{0}b", 1, 5).is_err());
    }

    #[tokio::test]
    async fn renders_json_body_with_code_and_message() {
        let response = ApiError::conflict("email_taken", "taken").into_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["error"]["code"], "email_taken");
        assert_eq!(json["error"]["message"], "taken");
        assert!(json["error"].get("fields").is_none());
    }

    #[test]
    fn validator_collects_every_field() {
        let mut v = Validator::default();
        assert_eq!(v.check::<u8>("a", Err("bad".into())), None);
        assert_eq!(v.check("b", Ok(1)), Some(1));
        assert_eq!(v.check::<u8>("c", Err("worse".into())), None);
        let err = v.finish().unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.fields.len(), 2);
        assert_eq!(err.fields[1].field, "c");
    }
}
