//! OpenAPI building blocks shared by every service's document.

use utoipa::ToSchema;

/// The body of every error response.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `out_of_stock`.
    code: String,
    /// Human-readable explanation.
    message: String,
    /// Per-field problems (422 `validation_failed` only).
    fields: Option<Vec<FieldProblem>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FieldProblem {
    field: String,
    message: String,
}
