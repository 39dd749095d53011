//! The origin's router: every service's public and internal routes behind
//! the edge credential, the API documents, the storefront's pages, and
//! the operations endpoints beside them.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use meridian_common::admission::{self, Gate};
use meridian_common::internal::{require_edge, InternalSecret};
use meridian_common::metrics::{self, Metrics};
use meridian_common::readiness::Readiness;
use meridian_common::{telemetry, ApiError};
use serde_json::json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, OnResponse, TraceLayer};
use tracing::Level;

use crate::services::Services;
use crate::{changes, keep_alive, openapi, MAX_BODY_BYTES};

/// The services' routes, as the edge reaches them (and as services reach
/// each other in process): `/api/<service>`, `/internal/<service>`, the
/// documents, and every other path a storefront page.
pub fn services(
    services: Services,
    change_feed: changes::ChangeFeed,
    region: &str,
    secret: &InternalSecret,
) -> Router {
    let Services {
        auth,
        catalog,
        search,
        cart,
        payments,
        orders,
        logistics,
        reviews,
        sellers,
        analytics,
        storefront,
        internal,
    } = services;
    let api = Router::new()
        .nest("/api/auth", meridian_auth::router(auth.clone()))
        .nest("/internal/auth", meridian_auth::internal_router(auth))
        .nest("/api/catalog", meridian_catalog::router(catalog.clone()))
        .nest(
            "/internal/catalog",
            meridian_catalog::internal_router(catalog),
        )
        .nest("/api/sellers", meridian_sellers::router(sellers.clone()))
        .nest(
            "/internal/sellers",
            meridian_sellers::internal_router(sellers),
        )
        .nest("/api/cart", meridian_cart::router(cart.clone()))
        .nest("/internal/cart", meridian_cart::internal_router(cart))
        .nest("/api/orders", meridian_orders::router(orders.clone()))
        .nest("/internal/orders", meridian_orders::internal_router(orders))
        .nest(
            "/api/logistics",
            meridian_logistics::router(logistics.clone()),
        )
        .nest(
            "/internal/logistics",
            meridian_logistics::internal_router(logistics),
        )
        .nest("/api/reviews", meridian_reviews::router(reviews))
        .nest("/api/search", meridian_search::router(search.clone()))
        .nest("/internal/search", meridian_search::internal_router(search))
        .nest("/api/analytics", meridian_analytics::router(analytics))
        .nest(
            "/internal/payments",
            meridian_payments::internal_router(payments),
        )
        .nest("/internal/cache", changes::router(change_feed))
        .route("/api/openapi.json", get(openapi::document))
        .route("/internal/openapi.json", get(openapi::internal_document))
        // Every other path: the storefront's pages (its fallback answers
        // unknown `/api/…` paths with the JSON 404).
        .merge(meridian_storefront::router(storefront))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(
            (Arc::<str>::from(region), secret.clone()),
            telemetry::in_process_span,
        ))
        .layer(from_fn_with_state(secret.clone(), require_edge));
    // `set` fails only if already set, which cannot happen for a new router.
    let _ = internal.set(api.clone());
    api
}

/// The services' routes with what every request passes through (body
/// limit, keep-alive hygiene, metrics, the request span), and beside them
/// health, readiness and metrics, which the edge and Prometheus poll every
/// second: those stay out of the access log and request metrics.
/// Requests from the network pass the origin's gate; calls between services
/// (`/internal/…`) do not, since refusing one would fail work already
/// admitted at its own door (a checkout halfway through).
async fn admit(
    axum::extract::State(gate): axum::extract::State<Gate>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path();
    if path.starts_with("/internal/") {
        return next.run(request).await;
    }
    let api = path.starts_with("/api/");
    match gate.admit().await {
        Some(_slot) => next.run(request).await,
        None if api => admission::overloaded("this region is at capacity; retry in a second"),
        None => admission::overloaded_page(),
    }
}

pub fn origin(
    api: Router,
    region: &str,
    secret: &InternalSecret,
    metrics: Metrics,
    readiness: Readiness,
    gate: Gate,
) -> Router {
    let (span_region, span_secret) = (region.to_owned(), secret.clone());
    let ops = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(move || readyz(readiness.clone())))
        .route(
            "/metrics",
            get({
                let metrics = metrics.clone();
                move || async move { metrics.render() }
            }),
        )
        .with_state(region.to_owned());
    let api = api
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(gate, admit))
        .layer(from_fn(keep_alive::close_if_body_unread))
        .layer(from_fn_with_state(metrics, metrics::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &axum::http::Request<_>| {
                    telemetry::request_span(&span_region, &span_secret, req)
                })
                .on_request(())
                .on_response(
                    |response: &Response, latency: std::time::Duration, span: &tracing::Span| {
                        telemetry::record_status(span, response.status());
                        DefaultOnResponse::new()
                            .level(Level::INFO)
                            .on_response(response, latency, span);
                    },
                ),
        );
    api.merge(ops).layer(CatchPanicLayer::custom(|_| {
        ApiError::internal("handler panicked").into_response()
    }))
}

async fn healthz(
    axum::extract::State(region): axum::extract::State<String>,
) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "region": region }))
}

async fn readyz(readiness: Readiness) -> Response {
    readiness.respond().await
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::any;
    use tower::ServiceExt;

    use super::*;

    /// One slot, held by a slow request: the next API request and the next
    /// page are refused at once, each in its own form; a call between
    /// services goes through.
    #[tokio::test]
    async fn a_full_origin_refuses_the_network_but_not_its_own_services() {
        let (entered, mut wait_entered) = tokio::sync::mpsc::channel::<()>(1);
        let (release, released) = tokio::sync::watch::channel(false);
        let slow = move || {
            let (entered, mut released) = (entered.clone(), released.clone());
            async move {
                let _ = entered.send(()).await;
                let _ = released.wait_for(|r| *r).await;
                "done"
            }
        };
        let gate = Gate::new("meridian_test_requests", "Requests", 1, Duration::ZERO);
        let router = Router::new()
            .route("/api/slow", get(slow))
            .route("/{*rest}", any(|| async { "ok" }))
            .layer(from_fn_with_state(gate.clone(), admit));
        let call = |path: &str| {
            router
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
        };
        let held = tokio::spawn(call("/api/slow"));
        wait_entered.recv().await.unwrap();

        let api = call("/api/catalog/products").await.unwrap();
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.headers()["retry-after"], "1");
        assert!(api.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let page = call("/p/some-product").await.unwrap();
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let internal = call("/internal/catalog/reserve").await.unwrap();
        assert_eq!(
            internal.status(),
            StatusCode::OK,
            "service calls are not shed"
        );
        assert_eq!(gate.refused(), 2);

        release.send(true).unwrap();
        assert_eq!(held.await.unwrap().unwrap().status(), StatusCode::OK);
        assert_eq!(
            call("/api/catalog/products").await.unwrap().status(),
            StatusCode::OK
        );
    }
}
