//! Password hashing with argon2id (OWASP parameters: the crate's defaults).
//!
//! Hashing is CPU-heavy on purpose (19 MiB and tens of milliseconds each),
//! so it runs on the blocking pool, and at most a few run at once (`gate`):
//! the blocking pool would otherwise run hundreds together and take every
//! core from the requests of everyone else. A mixed load past saturation
//! spent 40% of its serving origin's CPU in argon2 for the 2% of sessions
//! that register or sign in, and answered everything in seconds.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use meridian_common::admission::Gate;
use meridian_common::ApiError;

use crate::domain::Password;

/// The gate sign-ins and registrations pass before hashing: `max` at once
/// (half the cores by default, so hashing never holds more than half the
/// machine), each waiting at most `wait` for a turn before its `503
/// overloaded`. Metrics `meridian_auth_password_hashes_{in_flight,
/// refused_total, admission_wait_seconds}`.
pub fn gate(max: usize, wait: Duration) -> Gate {
    Gate::new(
        "meridian_auth_password_hashes",
        "Password hashes",
        max,
        wait,
    )
}

/// Half the cores this process may use, at least one.
pub fn default_max_in_flight() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

pub async fn hash(password: Password) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Verifies `candidate` against `stored`, or against a fixed dummy hash when
/// the account does not exist, so that an unknown email costs the same time
/// as a wrong password and response timing does not reveal which accounts
/// exist.
pub async fn verify(candidate: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let parsed = PasswordHash::new(&stored).map_err(ApiError::internal)?;
        let matches = Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok();
        Ok(exists && matches)
    })
    .await
    .map_err(ApiError::internal)?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(b"meridian-timing-equaliser", &salt)
            .expect("hashing a constant cannot fail")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let hash = hash(Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!verify("wrong horse battery!".into(), Some(hash))
            .await
            .unwrap());
        assert!(!verify("meridian-timing-equaliser".into(), None)
            .await
            .unwrap());
    }
}
