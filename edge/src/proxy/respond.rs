//! Responses the edge makes itself: JSON errors
//! (`{"error":{"code","message"}}`) and what a proxying error becomes.

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
        let body = Bytes::from(
            serde_json::json!({ "error": { "code": e.code, "message": e.message } }).to_string(),
        );
        let mut resp = ResponseHeader::build(e.status, Some(7))?;
        resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
        resp.insert_header(http::header::CACHE_CONTROL, "no-store")?;
        if e.status == 401 {
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
