//! Complete responses of the small HTTP apps beside the proxy (redirect,
//! metrics, admin).

use http::{header, Response, StatusCode};
use meridian_wire::ErrorBody;

/// A complete response of the side apps (redirect, metrics, admin): never
/// cached by anyone in between.
pub fn response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONTENT_LENGTH, body.len())
        .body(body)
        .expect("static response parts are valid")
}

/// An error in the wire contract's body.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<Vec<u8>> {
    let body = ErrorBody::new(code, message).to_vec();
    response(status, "application/json", body)
}
