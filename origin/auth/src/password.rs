//! Password hashing with argon2id (OWASP parameters: the crate's defaults).
//!
//! Hashing is CPU-heavy on purpose (19 MiB and tens of milliseconds each),
//! so it runs off the async runtime, and at most a few run at once (`gate`):
//! run together without bound, hashes took every core from the requests of
//! everyone else (a mixed load past saturation spent 40% of its serving
//! origin's CPU in argon2 for the 2% of sessions that register or sign in).
//!
//! Even one hash at a time is half of a two-core machine, and at 32 sign-ups
//! a second the gate kept one running all the time: the origin's other work
//! got what was left and placed checkouts fell to a third of their peak
//! (docs/performance.md). So the hashing threads run at nice 10 (a tenth of
//! a normal thread's share when the cores are contended, all of an idle
//! core otherwise): past saturation sign-ins slow down and are shed by the
//! gate's wait, and signed-in shoppers' checkouts keep the cores.

use std::panic::{catch_unwind, AssertUnwindSafe};
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

/// The hashing threads' nice value (0 is normal, 19 the lowest).
const HASHING_NICE: i32 = 10;

/// Threads for hashing only, as many as the cores (the gate bounds how many
/// work at once), each lowering its own priority as it starts.
fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
            .thread_name(|i| format!("password-hash-{i}"))
            .start_handler(|_| {
                // On Linux a thread id names the one thread. A process
                // started nicer than this keeps its own value; a failure
                // leaves the normal priority, which is still correct.
                let me = Some(rustix::thread::gettid());
                let now = rustix::process::getpriority_process(me).unwrap_or(0);
                if now < HASHING_NICE {
                    if let Err(e) = rustix::process::setpriority_process(me, HASHING_NICE) {
                        tracing::warn!(error = %e, "password hashing runs at normal priority");
                    }
                }
            })
            .build()
            .expect("a thread pool of at least one thread")
    })
}

/// Runs `work` on the hashing threads.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool().spawn(move || {
        // A panic would abort the process on a rayon thread: it becomes an
        // error of this one request instead.
        let done = catch_unwind(AssertUnwindSafe(work))
            .unwrap_or_else(|_| Err(ApiError::internal("password hashing panicked")));
        let _ = tx.send(done);
    });
    rx.await.map_err(ApiError::internal)?
}

pub async fn hash(password: Password) -> Result<String, ApiError> {
    on_hashing_thread(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
}

/// Verifies `candidate` against `stored`, or against a fixed dummy hash when
/// the account does not exist, so that an unknown email costs the same time
/// as a wrong password and response timing does not reveal which accounts
/// exist.
pub async fn verify(candidate: String, stored: Option<String>) -> Result<bool, ApiError> {
    on_hashing_thread(move || {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let parsed = PasswordHash::new(&stored).map_err(ApiError::internal)?;
        let matches = Argon2::default()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok();
        Ok(exists && matches)
    })
    .await
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

    #[tokio::test]
    async fn hashing_threads_run_below_normal_priority() {
        let nice = on_hashing_thread(|| {
            let me = rustix::thread::gettid();
            rustix::process::getpriority_process(Some(me)).map_err(ApiError::internal)
        })
        .await
        .unwrap();
        assert!(nice >= HASHING_NICE, "{nice}");
    }
}
