//! Extractors whose rejections are `ApiError`s, so malformed input gets the
//! same JSON error shape as every other failure instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// For the optional fields of a PATCH body: absent is `None` (left as it
/// is), a value is `Some`, and an explicit `null` is refused like any other
/// wrong type — the document declares these fields as strings, not nullable,
/// so `{"bio": null}` is not an update that silently changes nothing.
/// Use with `#[serde(default, deserialize_with = "…::present")]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `axum::Json` with JSON error bodies.
///
/// Integer fields also take integral decimals (`5.0`, `1e2`): JSON Schema,
/// and so the OpenAPI document's `type: integer`, counts them as integers,
/// and clients that hold every number as a double (JavaScript among them)
/// send them. A fraction (`5.5`) is still refused. The decimals are rewritten
/// only after the body failed as sent, so well-formed bodies are parsed once.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| json_rejection(JsonRejection::BytesRejection(e)))?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection @ JsonRejection::JsonDataError(_)) => integral_as_integers(&bytes)
                .and_then(|rewritten| axum::Json::<T>::from_bytes(&rewritten).ok())
                .map(|axum::Json(value)| Self(value))
                .ok_or_else(|| json_rejection(rejection)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `application/json` or `application/*+json`, as `axum::Json` accepts.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// The body with every integral decimal written as an integer, or `None`
/// when it has none (or is not JSON), so there is nothing to retry.
fn integral_as_integers(body: &[u8]) -> Option<Vec<u8>> {
    fn rewrite(value: &mut serde_json::Value) -> bool {
        match value {
            serde_json::Value::Number(n) if n.is_f64() => {
                // Within ±2^53 a double is an exact integer.
                const EXACT: f64 = 9_007_199_254_740_992.0;
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => {
                        *value = serde_json::Value::from(f as i64);
                        true
                    }
                    _ => false,
                }
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().fold(false, |any, v| rewrite(v) | any)
            }
            serde_json::Value::Object(fields) => {
                fields.values_mut().fold(false, |any, v| rewrite(v) | any)
            }
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    rewrite(&mut value).then(|| serde_json::to_vec(&value).ok())?
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let message = rejection.body_text();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ),
        JsonRejection::JsonDataError(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
        }
        JsonRejection::BytesRejection(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "request body is too large",
        ),
        _ => ApiError::bad_request("malformed_json", message),
    }
}

/// `axum::extract::Query` with JSON error bodies.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("invalid_query", rejection.body_text())
}

/// Path parameters with JSON error bodies.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request("invalid_path", rejection.body_text())),
        }
    }
}

/// A typed id that can name itself in an error ("order id").
pub trait PathId: std::str::FromStr {
    const NAME: &'static str;
}

/// Parses a path parameter as `T`; a malformed one is `400 invalid_id`
/// naming what it should be — the same answer from every service.
pub fn path_id<T: PathId>(raw: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", format!("{} must be a UUID", T::NAME)))
}

/// The route's one path parameter, as a typed id.
pub struct Id<T>(pub T);

impl<S: Send + Sync, T: PathId> FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await?;
        path_id(&raw).map(Self)
    }
}

/// The route's two path parameters, as typed ids in order.
pub struct Ids<A, B>(pub A, pub B);

impl<S: Send + Sync, A: PathId, B: PathId> FromRequestParts<S> for Ids<A, B> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state).await?;
        Ok(Self(path_id(&a)?, path_id(&b)?))
    }
}

/// The `Idempotency-Key` header of a request that moves money or stock:
/// one rule for every endpoint — required (`400 idempotency_key_required`
/// when absent) and 1 to 255 visible ASCII characters (`400
/// invalid_idempotency_key` otherwise, an empty value included).
pub struct IdempotencyKey(pub String);

/// Longest accepted `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

impl IdempotencyKey {
    /// Checks a header value against the rule above.
    pub fn parse(value: Option<&axum::http::HeaderValue>) -> Result<Self, ApiError> {
        let value = value.ok_or_else(|| {
            ApiError::bad_request("idempotency_key_required", "send an Idempotency-Key header")
        })?;
        let bytes = value.as_bytes();
        if bytes.is_empty()
            || bytes.len() > IDEMPOTENCY_KEY_MAX
            || !bytes.iter().all(|b| b.is_ascii_graphic())
        {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        // Visible ASCII is valid UTF-8.
        Ok(Self(String::from_utf8_lossy(bytes).into_owned()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::parse(parts.headers.get("idempotency-key"))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn code(value: Option<&[u8]>) -> Result<String, String> {
        let header = value.map(|v| HeaderValue::from_bytes(v).unwrap());
        IdempotencyKey::parse(header.as_ref())
            .map(|k| k.0)
            .map_err(|e| e.code.to_owned())
    }

    #[derive(Debug, Clone, serde::Deserialize, PartialEq)]
    struct Line {
        quantity: u32,
        price: Option<i64>,
        weight: f64,
    }

    async fn line(content_type: &str, body: &str) -> Result<Line, (u16, String)> {
        let request = Request::builder()
            .method("POST")
            .header("content-type", content_type)
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap();
        Json::<Line>::from_request(request, &())
            .await
            .map(|Json(line)| line)
            .map_err(|e| (e.status.as_u16(), e.code.to_owned()))
    }

    /// `GET uri` against routes taking one and two typed ids: the status
    /// and the error code or the ids echoed back.
    async fn ids(uri: &str) -> (u16, String) {
        use axum::routing::get;
        use tower::ServiceExt;

        use crate::{OrderId, ProductId};
        let router = axum::Router::new()
            .route(
                "/products/{id}",
                get(|Id(id): Id<ProductId>| async move { id.to_string() }),
            )
            .route(
                "/orders/{id}/products/{product}",
                get(|Ids(o, p): Ids<OrderId, ProductId>| async move { format!("{o} {p}") }),
            );
        let response = router
            .oneshot(Request::get(uri).body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(json) => (
                status,
                format!("{} {}", json["error"]["code"], json["error"]["message"]),
            ),
            Err(_) => (status, text),
        }
    }

    #[tokio::test]
    async fn typed_ids_in_paths_have_one_rule_and_name_themselves() {
        let a = "0190a8d0-0000-7000-8000-000000000001";
        let b = "0190a8d0-0000-7000-8000-000000000002";
        assert_eq!(ids(&format!("/products/{a}")).await, (200, a.to_owned()));
        assert_eq!(
            ids("/products/nope").await,
            (
                400,
                r#""invalid_id" "product id must be a UUID""#.to_owned()
            )
        );
        assert_eq!(
            ids(&format!("/orders/{a}/products/{b}")).await,
            (200, format!("{a} {b}"))
        );
        assert_eq!(
            ids(&format!("/orders/x/products/{b}")).await,
            (400, r#""invalid_id" "order id must be a UUID""#.to_owned())
        );
        assert_eq!(
            ids(&format!("/orders/{a}/products/1")).await,
            (
                400,
                r#""invalid_id" "product id must be a UUID""#.to_owned()
            )
        );
    }

    #[tokio::test]
    async fn integer_fields_take_integral_decimals_and_nothing_else() {
        let want = Line {
            quantity: 5,
            price: Some(-100),
            weight: 2.0,
        };
        for body in [
            r#"{"quantity":5,"price":-100,"weight":2}"#,
            r#"{"quantity":5.0,"price":-1e2,"weight":2.0}"#,
        ] {
            assert_eq!(
                line("application/json", body).await,
                Ok(want.clone()),
                "{body}"
            );
        }
        for body in [
            r#"{"quantity":5.5,"price":1,"weight":2}"#,
            r#"{"quantity":-1.0,"price":1,"weight":2}"#,
            r#"{"quantity":1e300,"price":1,"weight":2}"#,
            r#"{"quantity":"5","price":1,"weight":2}"#,
        ] {
            assert_eq!(
                line("application/json", body).await,
                Err((422, "invalid_body".into())),
                "{body}"
            );
        }
        assert_eq!(
            line("application/json", "{").await,
            Err((400, "malformed_json".into()))
        );
        let body = r#"{"quantity":1,"price":null,"weight":0.5}"#;
        for accepted in [
            "application/json; charset=utf-8",
            "Application/Problem+JSON",
        ] {
            assert!(line(accepted, body).await.is_ok(), "{accepted}");
        }
        for refused in [
            "text/plain",
            "application/jsonx",
            "application/+json",
            "json",
        ] {
            assert_eq!(
                line(refused, body).await,
                Err((415, "unsupported_media_type".into())),
                "{refused}"
            );
        }
    }

    #[test]
    fn idempotency_keys_follow_one_rule() {
        assert_eq!(code(Some(b"order-1")), Ok("order-1".into()));
        assert_eq!(code(Some(&[b'k'; 255])), Ok("k".repeat(255)));
        assert_eq!(code(None), Err("idempotency_key_required".into()));
        for bad in [&b""[..], &[b'k'; 256], b"two words", b"caf\xc3\xa9"] {
            assert_eq!(
                code(Some(bad)),
                Err("invalid_idempotency_key".into()),
                "{bad:?}"
            );
        }
    }
}
