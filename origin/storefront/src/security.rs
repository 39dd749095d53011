//! What keeps pages safe in a browser: forged cross-site form posts are
//! refused, every response carries a strict Content-Security-Policy and its
//! companions, and "sign in first" becomes a redirect that comes back.

use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::{NeedsSignIn, PageError};

/// No inline script or style anywhere, nothing framed, forms post only
/// here. Images may come from https (sellers' product images).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' https: data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Whether a state-changing request came from one of our own pages.
///
/// SameSite cookies alone do not stop a forged post from a sibling site or
/// an old browser, so this checks what the browser says about the request:
/// `Sec-Fetch-Site: same-origin` (all current browsers), else an `Origin`
/// naming this host. A request with neither is refused: every browser that
/// runs our pages sends one of them on a POST.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST))
    else {
        return false;
    };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
        return false;
    };
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// Middleware: refuses cross-site writes with a readable 403 page.
pub async fn refuse_forged_posts(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || same_origin(request.headers()) {
        return next.run(request).await;
    }
    tracing::warn!(path = request.uri().path(), "cross-site form post refused");
    PageError::Forbidden(
        "This form was sent from another site, so it was not accepted. \
         If you meant to do this, go to the page on Meridian and send it again."
            .to_owned(),
    )
    .into_response()
}

/// Middleware: the security headers of every page response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    h.entry("permissions-policy")
        .or_insert(HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=()",
        ));
    response
}

/// Middleware: a page that needs a signed-in user sends an anonymous one to
/// `/signin?next=<this page>` (a GET's own address; for a form post, the
/// page the form was on).
pub async fn sign_in_redirects(request: Request, next: Next) -> Response {
    let back = match *request.method() {
        Method::GET | Method::HEAD => request
            .uri()
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned()),
        _ => referer_path(request.headers()).unwrap_or_else(|| request.uri().path().to_owned()),
    };
    let response = next.run(request).await;
    if response.extensions().get::<NeedsSignIn>().is_none() {
        return response;
    }
    let query = serde_urlencoded::to_string([("next", back.as_str())]).unwrap_or_default();
    let mut redirect = Redirect::to(&format!("/signin?{query}")).into_response();
    *redirect.status_mut() = StatusCode::SEE_OTHER;
    redirect
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    redirect
}

/// The path (and query) of a same-origin `Referer`.
fn referer_path(headers: &HeaderMap) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let rest = referer
        .strip_prefix("https://")
        .or_else(|| referer.strip_prefix("http://"))?;
    let path = rest.strip_prefix(host)?;
    path.starts_with('/').then(|| path.to_owned())
}

/// Where to go after signing in: only a path on this site (`/…`, never
/// `//host` or a scheme), so the sign-in page cannot be an open redirect.
pub fn safe_return(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/account".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_same_origin_writes_pass() {
        let host = ("host", "shop.example:8443");
        for (case, expected) in [
            (headers(&[("sec-fetch-site", "same-origin"), host]), true),
            (headers(&[("sec-fetch-site", "same-site"), host]), false),
            (headers(&[("sec-fetch-site", "cross-site"), host]), false),
            (headers(&[("sec-fetch-site", "none"), host]), false),
            (
                headers(&[("origin", "https://shop.example:8443"), host]),
                true,
            ),
            (
                headers(&[("origin", "https://SHOP.example:8443"), host]),
                true,
            ),
            (headers(&[("origin", "https://evil.example"), host]), false),
            (
                headers(&[("origin", "https://shop.example:8443.evil"), host]),
                false,
            ),
            (headers(&[("origin", "null"), host]), false),
            (headers(&[host]), false),
            // A cross-site request cannot pass by also sending an Origin.
            (
                headers(&[
                    ("sec-fetch-site", "cross-site"),
                    ("origin", "https://shop.example:8443"),
                    host,
                ]),
                false,
            ),
        ] {
            assert_eq!(same_origin(&case), expected, "{case:?}");
        }
    }

    #[test]
    fn return_paths_stay_on_the_site() {
        assert_eq!(safe_return(Some("/checkout")), "/checkout");
        assert_eq!(safe_return(Some("/p/1?x=2")), "/p/1?x=2");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "javascript:1",
        ] {
            assert_eq!(safe_return(Some(bad)), "/account", "{bad}");
        }
        assert_eq!(safe_return(None), "/account");
    }

    #[test]
    fn referers_from_elsewhere_are_ignored() {
        let h = headers(&[
            ("host", "shop.example"),
            ("referer", "https://shop.example/cart?x=1"),
        ]);
        assert_eq!(referer_path(&h).as_deref(), Some("/cart?x=1"));
        let h = headers(&[
            ("host", "shop.example"),
            ("referer", "https://evil.example/"),
        ]);
        assert_eq!(referer_path(&h), None);
    }
}
