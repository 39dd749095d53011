//! The plain-HTTP listener: every request is redirected to HTTPS.

use async_trait::async_trait;
use http::{header, Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use super::side_app::json_error;

/// Answers every plain-HTTP request with a redirect to the same URL over
/// HTTPS: 301 for GET/HEAD, 308 otherwise so clients keep method and body.
pub struct Redirect {
    pub https_port: u16,
}

/// The host part of a `Host` header, if it is a plausible name or address.
fn redirect_host(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    ok.then_some(name)
}

pub fn redirect_location(host: &str, https_port: u16, path_and_query: &str) -> Option<String> {
    let name = redirect_host(host)?;
    Some(if https_port == 443 {
        format!("https://{name}{path_and_query}")
    } else {
        format!("https://{name}:{https_port}{path_and_query}")
    })
}

#[async_trait]
impl ServeHttp for Redirect {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let host = req
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| req.uri.host())
            .unwrap_or("");
        let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
        let status = if req.method == Method::GET || req.method == Method::HEAD {
            StatusCode::MOVED_PERMANENTLY
        } else {
            StatusCode::PERMANENT_REDIRECT
        };
        match redirect_location(host, self.https_port, target) {
            Some(location) => Response::builder()
                .status(status)
                .header(header::LOCATION, location)
                .header(header::CONTENT_LENGTH, 0)
                .body(Vec::new()),
            None => Ok(json_error(
                StatusCode::BAD_REQUEST,
                "bad_host",
                "missing or invalid Host header",
            )),
        }
        .expect("static response parts are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_host_path_and_query() {
        assert_eq!(
            redirect_location("localhost:8080", 8443, "/api/catalog?x=1").unwrap(),
            "https://localhost:8443/api/catalog?x=1"
        );
        assert_eq!(
            redirect_location("meridian.test", 443, "/").unwrap(),
            "https://meridian.test/"
        );
        assert_eq!(
            redirect_location("[::1]:80", 8443, "/").unwrap(),
            "https://[::1]:8443/"
        );
        assert!(redirect_location("", 443, "/").is_none());
        assert!(redirect_location("evil.com/x", 443, "/").is_none());
        assert!(redirect_location("a b", 443, "/").is_none());
    }
}
