//! Requests as the tests write them: `cluster.post(path)` starts one with
//! the cluster's client (reqwest's builder: `bearer_auth`, `header`,
//! `json`), `.reply().await` sends it and reads the whole answer.

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

/// A whole answer: status, headers and body (as JSON when it is JSON).
#[derive(Debug)]
pub struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    /// The body as JSON; `Null` when it is not JSON.
    pub json: Value,
    /// The body as text (lossy for binary bodies; see `body`).
    pub text: String,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value ("" when absent or not text).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// `error.code` of a JSON error body ("" for any other body).
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// The JSON body, once the status is `expected` (else a panic that
    /// shows the body).
    pub fn expect(self, expected: u16) -> Value {
        assert_eq!(self.status, expected, "{}", self.text);
        self.json
    }

    /// The region that answered (`x-meridian-region`).
    pub fn region(&self) -> &str {
        self.header("x-meridian-region")
    }
}

/// `.reply()` on any request builder.
pub trait Send {
    /// Sends the request; panics if it gets no answer at all.
    fn reply(self) -> impl std::future::Future<Output = Reply>;
}

impl Send for RequestBuilder {
    async fn reply(self) -> Reply {
        let response = self.send().await.expect("an answer");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("a readable body");
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&body).into_owned(),
            body,
        }
    }
}
