//! Responses the edge makes itself: JSON errors
//! (`{"error":{"code","message"}}`) on API routes, small HTML pages on page
//! routes, and what a proxying error becomes.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::prelude::*;

use super::{Ctx, Edge};

/// One `{"error":{"code","message"}}` response made by the edge.
pub(super) struct EdgeError<'a> {
    pub status: u16,
    pub code: &'a str,
    pub message: &'a str,
    pub retry_after: Option<u64>,
}

impl<'a> EdgeError<'a> {
    pub(super) fn new(status: u16, code: &'a str, message: &'a str) -> Self {
        Self {
            status,
            code,
            message,
            retry_after: None,
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
            let json = serde_json::json!({ "error": { "code": e.code, "message": e.message } });
            (Bytes::from(json.to_string()), "application/json")
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
        self.stamp(&mut resp, ctx)?;
        session.write_response_header(Box::new(resp), false).await?;
        session.write_response_body(Some(body), true).await
    }

    pub(super) async fn respond_error(
        &self,
        session: &mut Session,
        ctx: &Ctx,
        status: u16,
        code: &str,
        message: &str,
    ) -> Result<()> {
        self.respond(session, ctx, EdgeError::new(status, code, message))
            .await
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
        429 => ("Too many requests", "Wait a moment, then try again."),
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
        ErrorType::HTTPStatus(s) => (*s, "upstream_error", "the request could not be completed"),
        ErrorType::ReadTimedout | ErrorType::WriteTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            (504, "gateway_timeout", "the region did not answer in time")
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
    fn html_pages_say_what_to_do_and_escape_the_detail() {
        let page = html_page(503, "no <b>region</b> & more");
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("<h1>Meridian is having trouble right now</h1>"));
        assert!(page.contains("no &lt;b&gt;region&lt;/b&gt; &amp; more (error 503)"));
        assert!(!page.contains("<script") && !page.contains("style"));
        assert!(html_page(404, "x").contains("Page not found"));
    }
}
