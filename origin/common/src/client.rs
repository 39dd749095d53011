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
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;

use crate::internal::INTERNAL_HEADER;
use crate::ApiError;

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

    /// Sends `body` as JSON and decodes a JSON answer. `headers` are extra
    /// headers to pass on (`x-request-id`, `x-user-id`, `x-seller-id`, …).
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<R, ClientError> {
        let (status, bytes) = self.send(method, path, body, headers).await?;
        if status.is_success() {
            let bytes = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(bytes)
                .map_err(|e| ClientError::Decode(self.service, e.to_string()));
        }
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let code = body["error"]["code"].as_str().unwrap_or("error").to_owned();
        let message = body["error"]["message"].as_str().unwrap_or("").to_owned();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            return Err(ClientError::Unavailable(self.service, message));
        }
        Err(ClientError::Api {
            status: status.as_u16(),
            code,
            message,
        })
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

    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<(StatusCode, bytes::Bytes), ClientError> {
        let payload = match body {
            Some(b) => serde_json::to_vec(b)
                .map_err(|e| ClientError::Decode(self.service, e.to_string()))?,
            None => Vec::new(),
        };
        match &self.transport {
            Transport::InProcess(router) => {
                let router = router
                    .get()
                    .cloned()
                    .ok_or_else(|| ClientError::Unavailable(self.service, "not wired".into()))?;
                let mut request = Request::builder().method(method).uri(path);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let request = request
                    .header(INTERNAL_HEADER, self.secret.clone())
                    .header("content-type", "application/json")
                    .body(Body::from(payload))
                    .map_err(|e| ClientError::Decode(self.service, e.to_string()))?;
                let response = router
                    .oneshot(request)
                    .await
                    .map_err(|e| ClientError::Unavailable(self.service, e.to_string()))?;
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
                    .await
                    .map_err(|e| ClientError::Unavailable(self.service, e.to_string()))?;
                Ok((status, bytes))
            }
            Transport::Http { base, client } => {
                let mut request = client
                    .request(method, format!("{base}{path}"))
                    .header(INTERNAL_HEADER, self.secret.clone())
                    .header("content-type", "application/json")
                    .body(payload);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| ClientError::Unavailable(self.service, e.to_string()))?;
                let status = response.status();
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| ClientError::Unavailable(self.service, e.to_string()))?;
                Ok((status, bytes))
            }
        }
    }
}
