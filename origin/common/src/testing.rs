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
