//! Listening: TLS certificates per name, the protocol checks every request
//! passes first, the plain-HTTP redirect, and the responses of the small
//! side apps.

pub mod protocol;
pub mod redirect;
pub mod side_app;
pub mod tls;
