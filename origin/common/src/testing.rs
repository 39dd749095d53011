//! Helpers for contract suites that run against real backends.
//!
//! A real-backend test runs when its endpoint variable is set. CI sets
//! `MERIDIAN_REQUIRE_BACKENDS=1`, under which a missing endpoint fails the
//! test instead of skipping it, so a misconfigured CI cannot pass silently.

/// The endpoint in `var`, or `None` to skip. Panics when backends are required.
pub fn backend_endpoint(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ => {
            if std::env::var("MERIDIAN_REQUIRE_BACKENDS").as_deref() == Ok("1") {
                panic!("{var} is not set but MERIDIAN_REQUIRE_BACKENDS=1");
            }
            eprintln!("skipping: {var} is not set");
            None
        }
    }
}

/// A name unique to this test run, for schemas, key prefixes and tables, so
/// suites run in parallel and leave nothing shared behind.
pub fn unique_namespace(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..12])
}

/// Drops a test's schema and everything in it.
#[cfg(feature = "postgres")]
pub async fn drop_pg_schema(url: &str, schema: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to drop a test schema");
    conn.execute(format!("DROP SCHEMA \"{schema}\" CASCADE").as_str())
        .await
        .expect("drop a test schema");
}

/// A TCP forwarder that a test can take down and bring back, to show how a
/// service behaves when its store goes away mid-flight and returns.
pub struct FlakyProxy {
    pub addr: std::net::SocketAddr,
    target: std::net::SocketAddr,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl FlakyProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let proxy = Self {
            addr: listener.local_addr().expect("proxy address"),
            target,
            tasks: Default::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let tasks = self.tasks.clone();
        let target = self.target;
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().expect("proxy lock").push(conn.abort_handle());
            }
        });
        self.tasks
            .lock()
            .expect("proxy lock")
            .push(accept.abort_handle());
    }

    /// Stops listening and cuts every open connection.
    pub fn down(&self) {
        for task in self.tasks.lock().expect("proxy lock").drain(..) {
            task.abort();
        }
    }

    /// Listens again on the same address.
    pub async fn up(&self) {
        for _ in 0..50 {
            if let Ok(listener) = tokio::net::TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("proxy could not listen on {} again", self.addr);
    }
}

/// Router tests: one request through a service's `router(state)` with
/// `oneshot`, its answer read whole.
pub mod router {
    use std::sync::{Arc, OnceLock};

    use axum::body::Body;
    use axum::http::{HeaderMap, Request};
    use axum::Router;
    use serde_json::Value;
    use tower::ServiceExt;

    use crate::client::InternalClient;

    /// The secret stub clients send (stubs do not check it).
    pub const SECRET: &str = "router-test-secret-0001";

    pub struct Answer {
        pub status: u16,
        pub headers: HeaderMap,
        /// The body as JSON (`Null` when it is not JSON).
        pub json: Value,
        pub text: String,
    }

    impl Answer {
        /// `error.code` of a JSON error body.
        pub fn code(&self) -> &str {
            self.json["error"]["code"].as_str().unwrap_or("")
        }

        pub fn header(&self, name: &str) -> &str {
            self.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        }
    }

    /// `method uri` with `headers` and an optional JSON body.
    pub async fn call(
        router: &Router,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response = router
            .clone()
            .oneshot(request.body(body).expect("a valid test request"))
            .await
            .expect("routers are infallible");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .expect("a readable body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Answer {
            status,
            headers,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// A stub of the sellers service that knows one shop, owned by `owner`
    /// (other users own none), for services that ask whose shop acts.
    pub fn sellers_knowing(owner: crate::UserId, shop: crate::clients::ShopRef) -> InternalClient {
        let stub = Router::new().route(
            "/internal/sellers/by-owner/{user}",
            axum::routing::get(
                move |axum::extract::Path(user): axum::extract::Path<String>| {
                    let shop = shop.clone();
                    async move {
                        if user == owner.to_string() {
                            Ok(axum::Json(shop))
                        } else {
                            Err(axum::http::StatusCode::NOT_FOUND)
                        }
                    }
                },
            ),
        );
        stub_client("sellers", stub)
    }

    /// A client of `service` whose calls are answered by `stub` (routes
    /// as the real service's internal ones, e.g. `/internal/sellers/…`).
    pub fn stub_client(service: &'static str, stub: Router) -> InternalClient {
        let late = Arc::new(OnceLock::new());
        let _ = late.set(stub);
        InternalClient::in_process(service, late, SECRET)
    }
}
