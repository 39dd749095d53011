//! Internal payment routes. Every write carries an idempotency key: a retry
//! with the same key and request replays the first outcome; the same key
//! with a different request is refused (422).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use meridian_common::events::EventEnvelope;
use meridian_common::extract::{Id, Json};
use meridian_common::{ApiError, FieldError, Money};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::{check_amount, LedgerEntry, Payment, PaymentError, PaymentId, PaymentStatus};
use crate::gateway::{GatewayAnswer, GatewayError};
use crate::store::IdemRecord;
use crate::AppState;

fn fingerprint(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 200 || key.chars().any(char::is_control) {
        return Err(ApiError::validation(vec![FieldError::new(
            "idempotency_key",
            "1 to 200 printable characters",
        )]));
    }
    Ok(())
}

fn amount_field(amount: &Money) -> Result<(), ApiError> {
    check_amount(amount).map_err(|m| ApiError::validation(vec![FieldError::new("amount", m)]))
}

fn event(state: &AppState, kind: &str, p: &Payment, entry: Option<&LedgerEntry>) -> EventEnvelope {
    EventEnvelope::new(
        &state.region,
        kind,
        1,
        p.id.0,
        json!({
            "payment_id": p.id,
            "reference": p.reference,
            "status": p.status,
            "amount": entry.map_or(p.amount, |e| e.amount),
        }),
    )
}

/// Turns a stored outcome into the HTTP answer, after checking the key was
/// used for this same request.
fn respond(record: IdemRecord, fingerprint: &str, created: bool) -> Result<Response, ApiError> {
    if record.fingerprint != fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_mismatch",
            "this idempotency key was used for a different request",
        ));
    }
    match record.outcome {
        Ok(p) if p.status == PaymentStatus::Declined => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_declined",
            p.decline_reason.unwrap_or_else(|| "declined".into()),
        )),
        Ok(p) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, axum::Json(p)).into_response())
        }
        Err(PaymentError::InvalidAmount(m)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_amount",
            m,
        )),
        Err(PaymentError::InvalidState(m)) => Err(ApiError::conflict("invalid_state", m)),
        Err(PaymentError::Declined(m)) => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_declined",
            m,
        )),
        Err(PaymentError::GatewayTimeout) => Err(gateway_timeout()),
    }
}

fn gateway_timeout() -> ApiError {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "gateway_timeout",
        "the card processor did not answer in time",
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Authorize {
    idempotency_key: String,
    reference: String,
    amount: Money,
    token: String,
}

#[utoipa::path(post, path = "/internal/payments/authorizations", tag = "payments", request_body = Authorize,
    responses((status = 201, body = crate::domain::Payment), (status = 200, description = "replayed", body = crate::domain::Payment), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed / invalid_amount / idempotency_mismatch", body = meridian_common::openapi::ErrorBody), (status = 402, description = "payment_declined", body = meridian_common::openapi::ErrorBody), (status = 504, description = "gateway_timeout", body = meridian_common::openapi::ErrorBody)))]
pub async fn authorize(
    State(state): State<AppState>,
    Json(body): Json<Authorize>,
) -> Result<Response, ApiError> {
    check_key(&body.idempotency_key)?;
    amount_field(&body.amount)?;
    if body.reference.is_empty() || body.reference.len() > 200 {
        return Err(ApiError::validation(vec![FieldError::new(
            "reference",
            "1 to 200 characters",
        )]));
    }
    let amount = body.amount.amount.to_string();
    let fp = fingerprint(&[
        "authorize",
        &body.reference,
        &amount,
        body.amount.currency.code(),
        &body.token,
    ]);
    if let Some(record) = state.store.record(&body.idempotency_key).await? {
        return respond(record, &fp, false);
    }
    let now = Utc::now();
    let answer = state
        .gateway
        .authorize(&body.idempotency_key, &body.token, body.amount)
        .await;
    let (payment, entry) = match answer {
        Ok(GatewayAnswer::Approved) => {
            let p = Payment::authorized(&body.reference, body.amount, now);
            let e = p.authorization_entry(&body.idempotency_key);
            (p, Some(e))
        }
        Ok(GatewayAnswer::Declined(reason)) => {
            let mut p = Payment::authorized(&body.reference, body.amount, now);
            p.status = PaymentStatus::Declined;
            p.decline_reason = Some(reason);
            (p, None)
        }
        Err(GatewayError::Timeout) => return Err(gateway_timeout()),
        Err(GatewayError::UnknownToken) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "token",
                "unknown payment token",
            )]))
        }
    };
    let kind = if entry.is_some() {
        "payments.payment.authorized"
    } else {
        "payments.payment.declined"
    };
    let events = vec![event(&state, kind, &payment, entry.as_ref())];
    let record = state
        .store
        .create(&body.idempotency_key, &fp, &payment, entry.as_ref(), events)
        .await?;
    respond(record, &fp, true)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithAmount {
    idempotency_key: String,
    amount: Money,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyOnly {
    idempotency_key: String,
}

/// A state transition of the payment, with its ledger entry.
type Op = fn(&Payment, Option<Money>, &str) -> Result<(Payment, LedgerEntry), PaymentError>;

/// Validates, fingerprints and applies one operation idempotently.
async fn operate(
    state: AppState,
    id: PaymentId,
    key: String,
    amount: Option<Money>,
    name: &'static str,
    kind: &'static str,
    op: Op,
) -> Result<Response, ApiError> {
    check_key(&key)?;
    if let Some(a) = &amount {
        amount_field(a)?;
    }
    let amount_text = amount.map(|a| a.amount.to_string()).unwrap_or_default();
    let fp = fingerprint(&[name, &id.0.to_string(), &amount_text]);
    let s = state.clone();
    let k = key.clone();
    let t = move |p: &Payment| {
        let (next, entry) = op(p, amount, &k)?;
        let events = vec![event(&s, kind, &next, Some(&entry))];
        Ok((next, entry, events))
    };
    let record = state.store.transition(&key, &fp, id, &t).await?;
    respond(record, &fp, false)
}

#[utoipa::path(post, path = "/internal/payments/payments/{id}/capture", tag = "payments", request_body = WithAmount, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::domain::Payment), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed / invalid_amount / idempotency_mismatch", body = meridian_common::openapi::ErrorBody), (status = 409, description = "invalid_state", body = meridian_common::openapi::ErrorBody)))]
pub async fn capture(
    State(state): State<AppState>,
    Id(id): Id<PaymentId>,
    Json(body): Json<WithAmount>,
) -> Result<Response, ApiError> {
    operate(
        state,
        id,
        body.idempotency_key,
        Some(body.amount),
        "capture",
        "payments.payment.captured",
        |p, a, k| p.capture(a.unwrap_or(p.amount), k, Utc::now()),
    )
    .await
}

#[utoipa::path(post, path = "/internal/payments/payments/{id}/void", tag = "payments", request_body = KeyOnly, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::domain::Payment), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed / invalid_amount / idempotency_mismatch", body = meridian_common::openapi::ErrorBody), (status = 409, description = "invalid_state", body = meridian_common::openapi::ErrorBody)))]
pub async fn void(
    State(state): State<AppState>,
    Id(id): Id<PaymentId>,
    Json(body): Json<KeyOnly>,
) -> Result<Response, ApiError> {
    operate(
        state,
        id,
        body.idempotency_key,
        None,
        "void",
        "payments.payment.voided",
        |p, _, k| p.void(k, Utc::now()),
    )
    .await
}

#[utoipa::path(post, path = "/internal/payments/payments/{id}/refunds", tag = "payments", request_body = WithAmount, params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = crate::domain::Payment), (status = 400, description = "malformed_json / invalid_id", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed / invalid_amount / idempotency_mismatch", body = meridian_common::openapi::ErrorBody), (status = 409, description = "invalid_state", body = meridian_common::openapi::ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    Id(id): Id<PaymentId>,
    Json(body): Json<WithAmount>,
) -> Result<Response, ApiError> {
    operate(
        state,
        id,
        body.idempotency_key,
        Some(body.amount),
        "refund",
        "payments.payment.refunded",
        |p, a, k| p.refund(a.unwrap_or(p.amount), k, Utc::now()),
    )
    .await
}

#[utoipa::path(get, path = "/internal/payments/payments/{id}", tag = "payments", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "payment and ledger", body = Object), (status = 400, description = "invalid_id", body = meridian_common::openapi::ErrorBody), (status = 404, description = "not_found", body = meridian_common::openapi::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    Id(id): Id<PaymentId>,
) -> Result<Response, ApiError> {
    let payment = state
        .store
        .payment(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such payment"))?;
    let ledger = state.store.ledger(id).await?;
    Ok(axum::Json(json!({ "payment": payment, "ledger": ledger })).into_response())
}

#[utoipa::path(get, path = "/internal/payments/authorizations/{key}", tag = "payments", params(("key" = String, Path, description = "the idempotency key the authorization was made with")),
    responses((status = 200, description = "the payment that authorization made, as it stands now", body = crate::domain::Payment), (status = 404, description = "not_found: no payment was made under this key", body = meridian_common::openapi::ErrorBody), (status = 422, description = "validation_failed", body = meridian_common::openapi::ErrorBody)))]
/// The payment an authorization key made, for a caller that lost the
/// answer (checkout's sweeper voids what an abandoned checkout authorized
/// without knowing its card token).
pub async fn by_authorization(
    State(state): State<AppState>,
    axum::extract::Path(key): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    check_key(&key)?;
    let made = match state.store.record(&key).await? {
        Some(IdemRecord {
            outcome: Ok(payment),
            ..
        }) => state.store.payment(payment.id).await?,
        // A key whose authorization failed (or was never tried) made nothing.
        _ => None,
    };
    let payment = made.ok_or_else(|| ApiError::not_found("no payment was made under this key"))?;
    Ok(axum::Json(payment).into_response())
}
