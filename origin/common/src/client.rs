//! Calls between services, in process or over HTTP, through one transport.
//!
//! Typed clients (e.g. a catalog client used by orders) are thin wrappers
//! around `InternalClient`. When one origin hosts both services the call goes
//! straight into the other service's router (`tower::ServiceExt::oneshot`),
//! skipping the network but still passing the same middleware, credential
//! check and JSON contract; across processes the same call goes over HTTP.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;
use tracing::Instrument;

use crate::internal::INTERNAL_HEADER;
use crate::{telemetry, ApiError};

/// A router registered after construction, so services that call each other
/// (orders ↔ logistics) can be wired in any order.
pub type LateRouter = Arc<OnceLock<Router>>;

#[derive(Clone)]
enum Transport {
    InProcess(LateRouter),
    Http {
        base: String,
        client: reqwest::Client,
    },
}

#[derive(Clone)]
pub struct InternalClient {
    service: &'static str,
    transport: Transport,
    secret: HeaderValue,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The service could not be reached or did not answer in time.
    #[error("{0} unavailable: {1}")]
    Unavailable(&'static str, String),
    /// The service answered with an error of its own.
    #[error("{status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// Per-field problems of a `validation_failed` answer: (field, message).
        fields: Vec<(String, String)>,
    },
    #[error("undecodable response from {0}: {1}")]
    Decode(&'static str, String),
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unavailable(service, detail) => {
                tracing::warn!(service, %detail, "dependency unavailable");
                ApiError::unavailable(format!("the {service} service is temporarily unavailable"))
            }
            ClientError::Api {
                status,
                code,
                message,
                ..
            } if (400..500).contains(&status) => {
                // Known codes keep their meaning for the caller's client.
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                ApiError::new(status, leak_code(&code), message)
            }
            other => ApiError::internal(other),
        }
    }
}

/// Error codes are a small fixed vocabulary; interning them keeps `ApiError`
/// `&'static str` without allocating per error.
fn leak_code(code: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static CODES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let codes = CODES.get_or_init(Default::default);
    let mut codes = codes.lock().expect("code intern lock");
    if let Some(existing) = codes.get(code) {
        return existing;
    }
    if codes.len() >= 1024 {
        return "dependency_error";
    }
    let leaked: &'static str = Box::leak(code.to_owned().into_boxed_str());
    codes.insert(leaked);
    leaked
}

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

impl InternalClient {
    pub fn in_process(service: &'static str, router: LateRouter, secret: &str) -> Self {
        Self {
            service,
            transport: Transport::InProcess(router),
            secret: HeaderValue::from_str(secret).expect("validated secret"),
        }
    }

    pub fn http(service: &'static str, base: &str, secret: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .expect("plain HTTP client builds");
        Self {
            service,
            transport: Transport::Http {
                base: base.trim_end_matches('/').to_owned(),
                client,
            },
            secret: HeaderValue::from_str(secret).expect("validated secret"),
        }
    }

    /// The service this client calls (for error messages).
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Sends `body` as JSON and decodes a JSON answer. `headers` are extra
    /// headers to pass on (`x-request-id`, `x-user-id`, `x-seller-id`, …).
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<R, ClientError> {
        let payload = match body {
            Some(b) => Payload::json(self.service, b)?,
            None => Payload::Empty,
        };
        self.exchange(method, path, payload, headers)
            .await?
            .json(self.service)
    }

    /// `call` for operations whose answer carries nothing the caller needs.
    pub async fn call_unit<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<(), ClientError> {
        self.call::<B, serde::de::IgnoredAny>(method, path, body, headers)
            .await
            .map(|_| ())
    }

    /// The whole answer, headers included (a caller that passes cookies on
    /// needs `Set-Cookie`), for any kind of body. Fails only when the
    /// service cannot be reached; error statuses are in the `Answer`.
    /// Traced (when exporting) as a client span whose `traceparent` the
    /// callee continues.
    pub async fn exchange(
        &self,
        method: Method,
        path: &str,
        payload: Payload,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Answer, ClientError> {
        let Some(span) = telemetry::call_span(self.service, &method) else {
            return self
                .send(method, path, payload, headers, HeaderMap::new())
                .await;
        };
        let mut trace = HeaderMap::new();
        telemetry::inject(&span, &mut trace);
        let answer = self
            .send(method, path, payload, headers, trace)
            .instrument(span.clone())
            .await;
        match &answer {
            Ok(answer) => telemetry::record_status(&span, answer.status),
            Err(_) => {
                span.record("otel.status_code", "ERROR");
            }
        }
        answer
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        payload: Payload,
        headers: &[(HeaderName, HeaderValue)],
        trace: HeaderMap,
    ) -> Result<Answer, ClientError> {
        let (content_type, payload) = match payload {
            Payload::Empty => (HeaderValue::from_static("application/json"), Bytes::new()),
            Payload::Json(bytes) => (HeaderValue::from_static("application/json"), bytes.into()),
            Payload::Raw {
                content_type,
                bytes,
            } => (content_type, bytes),
        };
        match &self.transport {
            Transport::InProcess(router) => {
                let router = router
                    .get()
                    .cloned()
                    .ok_or_else(|| ClientError::Unavailable(self.service, "not wired".into()))?;
                let mut request = Request::builder()
                    .method(method)
                    .uri(path)
                    .extension(telemetry::InProcessCall);
                for (name, value) in headers.iter().map(|(n, v)| (n, v)).chain(&trace) {
                    request = request.header(name, value);
                }
                let request = request
                    .header(INTERNAL_HEADER, self.secret.clone())
                    .header("content-type", content_type)
                    .body(Body::from(payload))
                    .map_err(|e| ClientError::Decode(self.service, e.to_string()))?;
                let response = router
                    .oneshot(request)
                    .await
                    .map_err(|e| ClientError::Unavailable(self.service, e.to_string()))?;
                let (parts, body) = response.into_parts();
                let body = axum::body::to_bytes(body, 16 << 20)
                    .await
                    .map_err(|e| ClientError::Unavailable(self.service, e.to_string()))?;
                Ok(Answer {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                })
            }
            Transport::Http { base, client } => {
                let mut request = client
                    .request(method, format!("{base}{path}"))
                    .header(INTERNAL_HEADER, self.secret.clone())
                    .header("content-type", content_type)
                    .body(payload)
                    .headers(trace);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| ClientError::Unavailable(self.service, e.to_string()))?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| ClientError::Unavailable(self.service, e.to_string()))?;
                Ok(Answer {
                    status,
                    headers,
                    body,
                })
            }
        }
    }
}

/// The body of a call.
pub enum Payload {
    Empty,
    /// Serialised JSON.
    Json(Vec<u8>),
    /// Any other body (a multipart upload), with its content type.
    Raw {
        content_type: HeaderValue,
        bytes: Bytes,
    },
}

impl Payload {
    /// `body` serialised as JSON (for a call to `service`).
    pub fn json<B: Serialize + ?Sized>(
        service: &'static str,
        body: &B,
    ) -> Result<Self, ClientError> {
        serde_json::to_vec(body)
            .map(Payload::Json)
            .map_err(|e| ClientError::Decode(service, e.to_string()))
    }
}

/// A service's whole answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// The JSON body of a success, or the service's error: its code,
    /// message and field problems (a 503 is `Unavailable`).
    pub fn json<R: DeserializeOwned>(&self, service: &'static str) -> Result<R, ClientError> {
        if self.status.is_success() {
            let bytes = if self.body.is_empty() {
                &b"null"[..]
            } else {
                &self.body[..]
            };
            return serde_json::from_slice(bytes)
                .map_err(|e| ClientError::Decode(service, e.to_string()));
        }
        Err(self.error(service))
    }

    /// The error an unsuccessful answer stands for.
    pub fn error(&self, service: &'static str) -> ClientError {
        let body: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
        let code = body["error"]["code"].as_str().unwrap_or("error").to_owned();
        let message = text(&body["error"]["message"]);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            return ClientError::Unavailable(service, message);
        }
        let fields = body["error"]["fields"]
            .as_array()
            .map(|fields| {
                fields
                    .iter()
                    .map(|f| (text(&f["field"]), text(&f["message"])))
                    .collect()
            })
            .unwrap_or_default();
        ClientError::Api {
            status: self.status.as_u16(),
            code,
            message,
            fields,
        }
    }
}
