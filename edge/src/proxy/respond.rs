//! Responses the edge makes itself: JSON errors
//! (`{"error":{"code","message"}}`) on API routes, small HTML pages on page
//! routes, and what a proxying error becomes.

use bytes::Bytes;
use meridian_wire::ErrorBody;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::{Ctx, Edge};
use crate::listen::protocol::Protocol;

/// One `{"error":{"code","message"}}` response made by the edge.
pub(super) struct EdgeError<'a> {
    pub status: u16,
    pub code: &'a str,
    pub message: &'a str,
    pub retry_after: Option<u64>,
    /// `Allow`, on a 405.
    pub allow: Option<http::HeaderValue>,
    /// Shedding load: marked as origins mark theirs, so clients and the
    /// load generator tell it from a failure.
    pub overloaded: bool,
}

impl<'a> EdgeError<'a> {
    pub(super) fn new(status: u16, code: &'a str, message: &'a str) -> Self {
        Self {
            status,
            code,
            message,
            retry_after: None,
            allow: None,
            overloaded: false,
        }
    }

    /// The region the request would go to has no slot free.
    pub(super) fn overloaded() -> Self {
        Self {
            retry_after: Some(1),
            overloaded: true,
            ..Self::new(
                503,
                "overloaded",
                "the service is busy right now; retry in a second",
            )
        }
    }
}

impl Edge {
    /// Writes an edge-generated JSON error (`{"error":{"code","message"}}`).
    pub(super) async fn respond(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        e: EdgeError<'_>,
    ) -> Result<()> {
        let (body, content_type) = if ctx.html_errors {
            (
                Bytes::from(html_page(e.status, e.message)),
                "text/html; charset=utf-8",
            )
        } else {
            (error_body(e.code, e.message), "application/json")
        };
        let mut resp = ResponseHeader::build(e.status, Some(8))?;
        resp.insert_header(http::header::CONTENT_TYPE, content_type)?;
        resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
        resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        if e.status == 401 && !ctx.html_errors {
            resp.insert_header(http::header::WWW_AUTHENTICATE, "Bearer realm=\"meridian\"")?;
        }
        if let Some(secs) = e.retry_after {
            resp.insert_header(http::header::RETRY_AFTER, secs)?;
        }
        if let Some(allow) = e.allow {
            resp.insert_header(http::header::ALLOW, allow)?;
        }
        if e.overloaded {
            resp.insert_header(meridian_wire::headers::OVERLOADED, "edge")?;
        }
        self.stamp(&mut resp, ctx)?;
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(body), true).await
    }

    /// After answering before the request body was read (a refusal, a
    /// failed proxy): read and drop what the client still sends (bounded in
    /// bytes and time), as nginx's lingering close does, so a client that
    /// writes its whole body before reading sees the answer instead of a
    /// connection reset (HTTP/1.1), or a stream reset (HTTP/2). Returns at
    /// once when there is no body left. A body that would not stop is left
    /// for the close.
    pub(super) async fn linger(&self, session: &mut Session, protocol: &Protocol) {
        let deadline = tokio::time::Instant::now() + protocol.linger;
        let mut drained = 0u64;
        while drained < protocol.linger_bytes {
            match tokio::time::timeout_at(deadline, session.read_request_body()).await {
                Ok(Ok(Some(chunk))) => drained += chunk.len() as u64,
                _ => break,
            }
        }
    }
}

/// A page-route error as a person reads it: what happened and what to do,
/// with no script or style (nothing for a Content-Security-Policy to allow).
pub(super) fn html_page(status: u16, message: &str) -> String {
    let (title, advice) = match status {
        400 => (
            "This address is not valid",
            "Check the link, or start again from the home page.",
        ),
        401 => ("Please sign in", "Sign in, then try again."),
        404 => (
            "Page not found",
            "The page may have moved; try the home page or search.",
        ),
        413 => (
            "That upload is too large",
            "Choose a smaller file and try again.",
        ),
        405 => (
            "That can't be done here",
            "Go back to the page you came from and try again.",
        ),
        408 => ("This took too long", "Please try again."),
        414 => (
            "This address is too long",
            "Check the link, or start again from the home page.",
        ),
        429 => ("Too many requests", "Wait a moment, then try again."),
        431 => (
            "Your browser sent too much",
            "Clear this site's cookies, then try again.",
        ),
        502..=504 => (
            "Meridian is having trouble right now",
            "Nothing was lost. Please try again in a moment.",
        ),
        _ => ("Something went wrong", "Please try again in a moment."),
    };
    let escaped: String = message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Meridian</title></head><body><main>\
         <h1>{title}</h1><p>{advice}</p><p><small>{escaped} (error {status})</small></p>\
         <p><a href=\"/\">Meridian home</a></p></main></body></html>\n"
    )
}

/// What a request header Pingora could not read becomes: (status, code,
/// message); `None` for a client that is simply gone.
pub(super) fn invalid_request(e: &Error) -> Option<(u16, &'static str, &'static str)> {
    match e.etype() {
        ErrorType::ReadTimedout => Some((
            408,
            "request_timeout",
            "the request header did not arrive in time",
        )),
        ErrorType::InvalidHTTPHeader => {
            let too_many = e
                .cause
                .as_ref()
                .and_then(|c| c.downcast_ref::<httparse::Error>())
                .is_some_and(|c| *c == httparse::Error::TooManyHeaders);
            let too_large = e
                .context
                .as_ref()
                .is_some_and(|c| c.as_str().contains("larger than"));
            Some(if too_many || too_large {
                (
                    431,
                    "headers_too_large",
                    "the request headers are too large",
                )
            } else {
                (400, "bad_request", "the request header is malformed")
            })
        }
        _ => None,
    }
}

/// `{"error":{"code","message"}}`, the wire contract's body.
fn error_body(code: &str, message: &str) -> Bytes {
    Bytes::from(ErrorBody::new(code, message).to_vec())
}

/// A JSON error as a complete response, for answers made outside a
/// request's phases (no route, no HTML page, connection closed after).
pub(super) fn standalone_error(status: u16, code: &str, message: &str) -> (ResponseHeader, Bytes) {
    let body = error_body(code, message);
    let mut resp = ResponseHeader::build(status, Some(4)).expect("a valid status");
    for (name, value) in [
        (http::header::CONTENT_TYPE, "application/json"),
        (http::header::CACHE_CONTROL, "no-store"),
        (http::header::CONNECTION, "close"),
    ] {
        resp.insert_header(name, value)
            .expect("static header values");
    }
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())
        .expect("a length");
    (resp, body)
}

/// What a proxying error becomes for the client: (status, code, message);
/// status 0 means the client is gone and nothing is sent.
pub(super) fn classify(e: &Error) -> (u16, &'static str, &'static str) {
    match e.etype() {
        ErrorType::HTTPStatus(413) => (
            413,
            "body_too_large",
            "request body exceeds the edge's limit",
        ),
        ErrorType::HTTPStatus(503) => (503, "unavailable", "no region is available"),
        ErrorType::HTTPStatus(408) => (
            408,
            "request_timeout",
            "the request body arrived too slowly",
        ),
        ErrorType::HTTPStatus(s) => (*s, "upstream_error", "the request could not be completed"),
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            (504, "gateway_timeout", "the region did not answer in time")
        }
        ErrorType::ReadTimedout if e.esource() == &ErrorSource::Downstream => {
            (408, "request_timeout", "the request body stopped arriving")
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (502, "bad_gateway", "the region did not answer"),
            ErrorSource::Downstream => match e.etype() {
                ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => {
                    (0, "", "")
                }
                _ => (400, "bad_request", "malformed request"),
            },
            ErrorSource::Internal | ErrorSource::Unset => (500, "internal", "internal error"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_headers_become_408_431_or_400() {
        let status = |e: Box<Error>| invalid_request(&e).map(|r| r.0);
        assert_eq!(
            status(Error::explain(ErrorType::ReadTimedout, "slow")),
            Some(408)
        );
        assert_eq!(
            status(Error::explain(
                ErrorType::InvalidHTTPHeader,
                "Request header larger than 1048575"
            )),
            Some(431)
        );
        let many = Error::because(
            ErrorType::InvalidHTTPHeader,
            "buf: ...",
            httparse::Error::TooManyHeaders,
        );
        assert_eq!(status(many), Some(431));
        let token = Error::because(
            ErrorType::InvalidHTTPHeader,
            "buf: ...",
            httparse::Error::Token,
        );
        assert_eq!(status(token), Some(400));
        assert_eq!(
            status(Error::explain(ErrorType::ConnectionClosed, "gone")),
            None
        );

        let (resp, body) = standalone_error(431, "headers_too_large", "too large");
        assert_eq!(resp.status, 431);
        assert!(resp.headers.get("server").is_none());
        assert_eq!(
            resp.headers["content-length"],
            body.len().to_string().as_str()
        );
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "headers_too_large");
    }

    #[test]
    fn html_pages_say_what_to_do_and_escape_the_detail() {
        let page = html_page(503, "no <b>region</b> & more");
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("<h1>Meridian is having trouble right now</h1>"));
        assert!(page.contains("no &lt;b&gt;region&lt;/b&gt; &amp; more (error 503)"));
        assert!(!page.contains("<script") && !page.contains("style"));
        assert!(html_page(404, "x").contains("Page not found"));
    }
}
