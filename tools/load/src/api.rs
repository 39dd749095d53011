//! One request, timed and judged: the scenarios say what they send and
//! which statuses they want; this records how it went.

use std::sync::Arc;
use std::time::Instant;

use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use crate::record::{Outcome, Recorder};

/// An answer the scenario can read on.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
    /// Parsed when first asked: most answers are only judged by status, and
    /// every CPU cycle the generator spends is taken from the system it
    /// measures on the same cores.
    json: std::sync::OnceLock<Value>,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> &Value {
        self.json
            .get_or_init(|| serde_json::from_slice(&self.body).unwrap_or(Value::Null))
    }

    pub fn into_json(self) -> Value {
        self.json
            .into_inner()
            .unwrap_or_else(|| serde_json::from_slice(&self.body).unwrap_or(Value::Null))
    }

    /// The error body's `code` (empty when there is none).
    pub fn code(&self) -> &str {
        self.json()["error"]["code"].as_str().unwrap_or_default()
    }

    /// The wait a 429 or 503 asks for (a second when it names none).
    pub fn retry_after(&self) -> std::time::Duration {
        let secs = self
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        std::time::Duration::from_secs(secs)
    }
}

/// Refusals a shopper meets on a healthy system: counted, not failures.
const REFUSALS: [(u16, &str); 4] = [
    (409, "out_of_stock"),
    (402, "payment_declined"),
    (503, "overloaded"),
    (429, "rate_limited"),
];

/// The HTTP side of one session: who it is recorded as.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: Arc<str>,
    pub recorder: Arc<Recorder>,
    pub step: usize,
    pub scenario: &'static str,
}

/// A request being built: path, credentials, body.
pub struct Call<'a> {
    api: &'a Api,
    request: RequestBuilder,
}

impl Api {
    pub fn call(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            api: self,
            request: self.http.request(method, format!("{}{path}", self.base)),
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }
}

impl Call<'_> {
    pub fn bearer(mut self, token: &str) -> Self {
        self.request = self.request.bearer_auth(token);
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.request = self.request.json(body);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    /// Sends, for a step that cannot go on without it (the run's setup):
    /// the answer when its status is `want`, else an error saying `what`
    /// failed and how.
    pub async fn require(self, want: u16, what: &str) -> anyhow::Result<Answer> {
        match self.expect(&[want]).await {
            Some(a) if a.status == want => Ok(a),
            Some(a) => anyhow::bail!("{what}: {} {}", a.status, a.json()),
            None => anyhow::bail!("{what}: no answer"),
        }
    }

    /// Sends; an answer with a status in `want` is a success, a known
    /// refusal is counted as one, anything else (a transport error too) is a
    /// failure. The answer comes back whatever it was, if there was one.
    pub async fn expect(self, want: &[u16]) -> Option<Answer> {
        let api = self.api;
        let started = Instant::now();
        let sent = self.request.send().await;
        let answer = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Ok(body) => Ok(Answer {
                        status,
                        headers,
                        body,
                        json: std::sync::OnceLock::new(),
                    }),
                    Err(e) => Err(transport(&e)),
                }
            }
            Err(e) => Err(transport(&e)),
        };
        let latency = started.elapsed();
        match answer {
            Ok(a) => {
                let outcome = if want.contains(&a.status) {
                    Outcome::Ok
                } else if a.headers.contains_key("x-meridian-overloaded") {
                    // The system shedding load (pages carry no JSON code).
                    Outcome::Refused("503 overloaded".into())
                } else if REFUSALS.contains(&(a.status, a.code())) || a.status == 429 {
                    Outcome::Refused(format!("{} {}", a.status, a.code()))
                } else {
                    Outcome::Failed(format!("{} {}", a.status, a.code()).trim().to_owned())
                };
                let region = a
                    .headers
                    .get("x-meridian-region")
                    .and_then(|v| v.to_str().ok());
                api.recorder
                    .request(api.step, api.scenario, latency, outcome, region);
                Some(a)
            }
            Err(kind) => {
                api.recorder
                    .request(api.step, api.scenario, latency, Outcome::Failed(kind), None);
                None
            }
        }
    }
}

/// A transport failure's kind, from a small fixed set.
fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "transport"
    }
    .to_owned()
}
