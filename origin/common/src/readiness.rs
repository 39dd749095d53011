//! `/readyz`: is every configured store reachable right now?
//!
//! The edge's active health checks call it, so a region whose database is down
//! is taken out of rotation instead of serving errors.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// One store's reachability check.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Store role and backend, e.g. `users:postgres`.
    fn name(&self) -> String;
    async fn check(&self) -> Result<(), String>;
}

#[derive(Clone, Default)]
pub struct Readiness {
    probes: Vec<Arc<dyn Probe>>,
}

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    pub fn add(&mut self, probe: Arc<dyn Probe>) {
        self.probes.push(probe);
    }

    /// Runs every probe concurrently, each bounded by a timeout so a hung store
    /// reports as down instead of hanging the health check.
    pub async fn report(&self) -> (bool, Map<String, Value>) {
        let results = futures::future::join_all(self.probes.iter().map(|probe| async move {
            let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe.check()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err("timed out".to_owned()),
            };
            (probe.name(), outcome)
        }))
        .await;
        let mut all_ok = true;
        let mut stores = Map::new();
        for (name, outcome) in results {
            let value = match outcome {
                Ok(()) => Value::from("ok"),
                Err(e) => {
                    all_ok = false;
                    Value::from(format!("error: {e}"))
                }
            };
            stores.insert(name, value);
        }
        (all_ok, stores)
    }

    pub async fn respond(&self) -> Response {
        let (ok, stores) = self.report().await;
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let body = json!({ "status": if ok { "ready" } else { "unready" }, "stores": stores });
        (status, Json(body)).into_response()
    }
}

type CheckFn = dyn Fn() -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync;

/// A probe from a name and a closure, so stores need not implement `Probe`.
pub struct FnProbe {
    name: String,
    check: Box<CheckFn>,
}

impl FnProbe {
    pub fn new<F, Fut>(name: impl Into<String>, check: F) -> Arc<Self>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        Arc::new(Self {
            name: name.into(),
            check: Box::new(move || Box::pin(check())),
        })
    }
}

#[async_trait]
impl Probe for FnProbe {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn check(&self) -> Result<(), String> {
        (self.check)().await
    }
}
