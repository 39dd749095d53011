//! The admin API, on its own listener (loopback by default), behind a
//! bearer token: reload, purge, regions, drain.
//!
//! | method | path                          | does                                  |
//! |--------|-------------------------------|---------------------------------------|
//! | POST   | /admin/reload                 | re-read config + certificates         |
//! | POST   | /admin/purge                  | `{"keys","prefixes","tags","all"}`    |
//! | GET    | /admin/regions                | health, drain and breaker per region  |
//! | POST   | /admin/regions/{id}/drain     | move the region's traffic away        |
//! | POST   | /admin/regions/{id}/undrain   | let it take traffic again             |
//! | GET    | /admin/cache                  | entries and bytes held                |

use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::BytesMut;
use http::{header, Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde::Deserialize;
use serde_json::{json, Value};

use meridian_wire::ErrorBody;

use super::reload::Reloader;
use crate::listen::side_app::response;
use crate::metrics::EdgeMetrics;
use crate::state::EdgeState;

const MAX_BODY: usize = 64 * 1024;

pub struct AdminApp {
    pub state: Arc<ArcSwap<EdgeState>>,
    pub reloader: Arc<Reloader>,
    pub metrics: Arc<EdgeMetrics>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    #[serde(default)]
    pub keys: Vec<String>,
    #[serde(default)]
    pub prefixes: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub all: bool,
}

type Reply = (StatusCode, Value);

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    let body = serde_json::to_value(ErrorBody::new(code, message)).expect("two strings");
    (status, body)
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

pub fn authorized(authorization: Option<&[u8]>, token: &str) -> bool {
    !token.is_empty()
        && authorization
            .and_then(|v| v.strip_prefix(b"Bearer "))
            .is_some_and(|t| token_matches(t.trim_ascii(), token.as_bytes()))
}

impl AdminApp {
    fn regions(&self) -> Value {
        let state = self.state.load();
        let ups = &state.upstreams;
        let regions: Vec<Value> = (0..ups.len())
            .map(|i| {
                let r = ups.region(i);
                json!({
                    "id": r.id,
                    "origin": r.origin.to_string(),
                    "address": ups.endpoint(i).map(|e| e.addr.to_string()),
                    "healthy": ups.is_healthy(i),
                    "drained": ups.is_drained(i),
                    "breaker_open": ups.is_breaker_open(i),
                    "routable": ups.is_available(i, false),
                })
            })
            .collect();
        json!({ "regions": regions })
    }

    fn drain(&self, id: &str, drained: bool) -> Reply {
        let state = self.state.load();
        let Some(i) = state.upstreams.position(id) else {
            return error(StatusCode::NOT_FOUND, "not_found", "no such region");
        };
        let changed = state.upstreams.set_drained(i, drained);
        if changed {
            tracing::warn!(region = id, drained, "region drain changed by operator");
        }
        (
            StatusCode::OK,
            json!({ "region": id, "drained": drained, "changed": changed }),
        )
    }

    fn purge(&self, body: &[u8]) -> Reply {
        let request: PurgeRequest = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    &format!("purge body: {e}"),
                )
            }
        };
        if !request.all
            && request.keys.is_empty()
            && request.prefixes.is_empty()
            && request.tags.is_empty()
        {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "name keys, prefixes, tags, or all = true",
            );
        }
        if let Some(bad) = request
            .keys
            .iter()
            .chain(&request.prefixes)
            .find(|p| !p.starts_with('/'))
        {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                &format!("keys and prefixes are paths starting with '/': {bad:?}"),
            );
        }
        let cache = self.state.load().cache.clone();
        let purged = &self.metrics.cache_purged;
        let mut n = 0;
        if request.all {
            n += cache.purge_all();
            purged.with_label_values(&["all"]).inc();
        }
        for key in &request.keys {
            n += cache.purge_key(key);
            purged.with_label_values(&["key"]).inc();
        }
        for prefix in &request.prefixes {
            n += cache.purge_prefix(prefix);
            purged.with_label_values(&["prefix"]).inc();
        }
        if !request.tags.is_empty() {
            n += cache.purge_tags(request.tags.iter().map(String::as_str));
            purged
                .with_label_values(&["tag"])
                .inc_by(request.tags.len() as u64);
        }
        (StatusCode::OK, json!({ "purged": n }))
    }

    async fn route(&self, method: &Method, path: &str, body: &[u8]) -> Reply {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        match (method, segments.as_slice()) {
            (&Method::POST, ["admin", "reload"]) => match self.reloader.reload().await {
                Ok(summary) => (
                    StatusCode::OK,
                    json!({ "status": "reloaded", "loaded": summary }),
                ),
                Err(message) => error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_config", &message),
            },
            (&Method::POST, ["admin", "purge"]) => self.purge(body),
            (&Method::GET, ["admin", "regions"]) => (StatusCode::OK, self.regions()),
            (&Method::POST, ["admin", "regions", id, "drain"]) => self.drain(id, true),
            (&Method::POST, ["admin", "regions", id, "undrain"]) => self.drain(id, false),
            (&Method::GET, ["admin", "cache"]) => {
                let (entries, bytes) = self.state.load().cache.size();
                (
                    StatusCode::OK,
                    json!({ "entries": entries, "bytes": bytes }),
                )
            }
            (_, ["admin", ..]) => error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such admin endpoint (or wrong method)",
            ),
            _ => error(
                StatusCode::NOT_FOUND,
                "not_found",
                "admin paths start with /admin",
            ),
        }
    }
}

async fn read_body(session: &mut ServerSession) -> Result<BytesMut, Reply> {
    let mut body = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "admin bodies are limited to 64 KiB",
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(_) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "could not read the request body",
                ))
            }
        }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_owned();
        let auth = req
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        let token = self.state.load().config.admin.token.clone();
        let (status, body) = if !authorized(auth.as_deref(), &token) {
            error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "admin bearer token required",
            )
        } else {
            match read_body(session).await {
                Ok(body) => self.route(&method, &path, &body).await,
                Err(reply) => reply,
            }
        };
        response(status, "application/json", body.to_string().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_must_match_exactly() {
        let token = "0123456789abcdef";
        assert!(authorized(Some(b"Bearer 0123456789abcdef"), token));
        assert!(!authorized(Some(b"Bearer 0123456789abcdeX"), token));
        assert!(!authorized(Some(b"Bearer 0123456789abcde"), token));
        assert!(!authorized(Some(b"0123456789abcdef"), token));
        assert!(!authorized(None, token));
        assert!(!authorized(Some(b"Bearer "), ""));
    }

    #[test]
    fn purge_bodies_are_strict() {
        assert!(serde_json::from_str::<PurgeRequest>(r#"{"tags":["product:1"]}"#).is_ok());
        assert!(serde_json::from_str::<PurgeRequest>(r#"{"tag":"x"}"#).is_err());
    }
}
