//! What the edge and the origins say to each other, written once.
//!
//! The edge never depends on origin crates and the origins never on the
//! edge; both depend on this small crate of names and message shapes, so a
//! header renamed or a service added on one side cannot drift from the
//! other. Nothing here does I/O: constants, a service table, and serde
//! types for the few JSON messages that cross the line.

pub mod error;
pub mod headers;
pub mod internal;
pub mod labels;

pub use error::ErrorBody;
